"""Every error the filing service answers with, declared once: code, status, meaning.

A ``code`` is public contract: add codes, never rename one. Errors the kit owns are
not repeated: ``role_required``, the Idempotency-Key 409/422, ``validation_failed``,
``cursor_invalid``, and the calendar's ``calendar_year_unknown`` and
``calendar_schedule_invalid`` (``shared.calendar``), which routes document by text.

This module imports nothing of the service and no framework: ``domain`` may use it.
"""

from __future__ import annotations

from shared.codes import Code, codes_in
from shared.errors import GovitError, Violation

NOT_FOUND = Code("not_found", 404, "no such record, or not yours to read (the same answer)")
FORBIDDEN = Code(
    "forbidden", 403, "you may read the project but not file for it (its lead unit files)"
)
PROJECT_UNKNOWN = Code(
    "project_unknown",
    409,
    "this service has not heard of the project (approval's events may not have arrived"
    " yet, or it is not yours): retry later",
)
PROJECT_NOT_APPROVED = Code(
    "project_not_approved", 409, "the project is not approved (or was rejected or terminated)"
)
EVENT_DATE_IN_FUTURE = Code("event_date_in_future", 422, "`event_date` is after today")
FILED_ON_IN_FUTURE = Code("filed_on_in_future", 422, "`filed_on` is after today")
FILED_BEFORE_EVENT = Code(
    "filed_before_event", 422, "`filed_on` is before `event_date` (nothing to file yet)"
)
FILING_FIELDS_MISSING = Code(
    "filing_fields_missing", 422, "the filing type needs these fields (`fields`)"
)
FILING_REFUSED = Code(
    "filing_refused",
    422,
    "the filing breaks the project's regulation: missing acceptance materials, content,"
    " trial run or handover (`violations`)",
)
ACCEPTANCE_ALREADY_RECORDED = Code(
    "acceptance_already_recorded", 409, "the project already has a passed acceptance"
)
REVIEW_NOT_APPLICABLE = Code(
    "review_not_applicable", 409, "only an `acceptance_delay` filing is reviewed"
)
FILING_ALREADY_REVIEWED = Code("filing_already_reviewed", 409, "the filing has its verdict")
CALENDAR_YEAR_OFFICIAL = Code(
    "calendar_year_official",
    409,
    "the year's official schedule is already in the calendar library; it is not replaced",
)

CODES: tuple[Code, ...] = codes_in(globals())

# The kit's calendar errors, documented where a route may raise them.
CALENDAR_UNKNOWN_TEXT = {
    422: "`calendar_year_unknown`: the count reaches a year whose official schedule is"
    " not loaded (`year`)."
}
SCHEDULE_INVALID_TEXT = {
    422: "`calendar_schedule_invalid`: the schedule contradicts itself or its year."
}


not_found = NOT_FOUND.missing


def project_unknown(project_id: object) -> GovitError:
    return PROJECT_UNKNOWN.error(
        f"project {project_id} is not known here yet: approval's event may still be on its"
        " way. Retry later",
        extra={
            "project_id": str(project_id),
            "message_zh": "本服务尚未收到该项目的审批信息，请稍后重试",
        },
    )


def fields_missing(filing_type: str, fields: list[str]) -> GovitError:
    return FILING_FIELDS_MISSING.error(
        f"a {filing_type} filing needs: {', '.join(fields)}", extra={"fields": fields}
    )


def filing_refused(violations: list[Violation]) -> GovitError:
    return FILING_REFUSED.error("the filing breaks the project's regulation", violations=violations)
