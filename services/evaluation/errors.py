"""Every error the evaluation service answers with, declared once: code, status, meaning.

A ``code`` is public contract: add codes, never rename one. Errors the kit owns are
not repeated (``not_found``/``forbidden`` shapes aside, the Idempotency-Key 409/422,
pydantic's 422 ``validation_failed``, ``role_required``).

This module imports nothing of the service and no framework: ``domain`` may use it.
"""

from __future__ import annotations

from shared.codes import Code, codes_in
from shared.errors import GovitError, Violation

# --- the codes (stable: add, never rename) ---------------------------------------------

NOT_FOUND = Code("not_found", 404, "no such record, or not yours to read (the same answer)")
FORBIDDEN = Code("forbidden", 403, "not yours to do (a unit acts for its own projects only)")
PROJECT_UNKNOWN = Code(
    "project_unknown", 422, "no such project in approval's events, or not yours to evaluate"
)
UNIT_UNKNOWN = Code("unit_unknown", 422, "no such unit in the caller's jurisdiction")
FILING_UNKNOWN = Code(
    "filing_unknown",
    422,
    "no self-evaluation filing of that project (`filing_id`); one filed a moment ago may"
    " not have arrived yet: see Retry-After",
)
SCORES_REFUSED = Code(
    "scores_refused",
    422,
    "unknown dimension, score outside 0-100, or an efficacy evaluation missing dimensions"
    " (`violations`)",
)
EVALUATION_FIELDS_INVALID = Code(
    "evaluation_fields_invalid",
    422,
    "`project_id` is for project evaluations, `org` for `unit_annual` only",
)
RECTIFICATION_REFUSED = Code(
    "rectification_refused",
    422,
    "the regulation names no such ground, or the due date is not after today (`violations`)",
)
PROJECT_NOT_RECTIFIABLE = Code(
    "project_not_rectifiable",
    409,
    "the project is not under an approval (draft, submitted, rejected or terminated)"
    " (`violations`)",
)
TRANSITION_REFUSED = Code(
    "transition_refused", 409, "the order's lifecycle does not allow that step (`violations`)"
)
EVALUATION_NOT_PENDING = Code("evaluation_not_pending", 409, "the evaluation is already completed")
QUESTIONNAIRE_NOT_APPLICABLE = Code(
    "questionnaire_not_applicable",
    409,
    "a questionnaire is for a pending `questionnaire` evaluation, once",
)
QUESTIONNAIRE_MISSING = Code("questionnaire_missing", 409, "the evaluation has no questionnaire")
QUESTIONNAIRE_NOT_OPEN = Code(
    "questionnaire_not_open",
    409,
    "outside the questionnaire's window (`violations`): not open yet, or closed",
)
QUESTIONNAIRE_STILL_OPEN = Code(
    "questionnaire_still_open", 409, "the questionnaire has not closed yet"
)
QUESTIONNAIRE_NO_ANSWERS = Code(
    "questionnaire_no_answers", 409, "no answers to feed `user_satisfaction`"
)
RESPONDENT_TOKEN_INVALID = Code(
    "respondent_token_invalid", 403, "not a respondent token this questionnaire handed out"
)
RESPONDENT_TOKEN_USED = Code(
    "respondent_token_used", 409, "this respondent token has already answered"
)
ASSESSMENT_EXISTS = Code("assessment_exists", 409, "the unit already has that year's assessment")
GRADE_INCONSISTENT = Code(
    "grade_inconsistent", 422, "the grade is not the score's band (`expected_grade`)"
)
WINDOW_INVALID = Code("window_invalid", 422, "`closes_on` must not be before `opens_on`")

CODES: tuple[Code, ...] = codes_in(globals())
_BY_CODE = {c.code: c for c in CODES}


# --- constructors --------------------------------------------------------------------------


not_found = NOT_FOUND.missing


def refused(code: Code, detail: str, violations: list[Violation]) -> GovitError:
    return code.error(detail, violations=violations)


def filing_unknown(filing_id: object, project_id: object) -> GovitError:
    # Filings reach evaluation as filing's events: one made a moment ago may not be here
    # yet, and that cannot be told from one that never was, so the answer says both.
    return FILING_UNKNOWN.error(
        f"no self-evaluation filing {filing_id} of project {project_id} is known here. One"
        " filed a moment ago reaches evaluation through filing's events: retry in a few"
        " seconds",
        extra={"message_zh": "尚未收到该项目的自评价备案，如刚刚备案请稍后重试"},
        headers={"Retry-After": "5"},
    )
