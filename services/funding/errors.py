"""Every error the funding service answers with, declared once: code, status, meaning.

A ``code`` is public contract: never renamed, never spelled inline where raised.
Errors the kit owns are not repeated here: ``not_found`` (the record does not exist
or is not the caller's to read; the same answer), ``role_required``, the
Idempotency-Key 409/422, ``validation_failed``, ``calendar_year_unknown`` and the
policy loader's ``unknown_profile``/``unknown_profile_version``.

This module imports nothing of the service and no framework.
"""

from __future__ import annotations

from shared.codes import Code, codes_in
from shared.errors import GovitError, Violation

NOT_FOUND = Code("not_found", 404, "no such project, or not yours to read (the same answer)")
PROJECT_UNKNOWN = Code(
    "project_unknown", 422, "a project the caller's jurisdiction does not have (`project_id`)"
)
PROJECT_NOT_APPROVED = Code(
    "project_not_approved", 409, "the project has no approved budget yet (`violations`)"
)
YEAR_OUTSIDE_BUDGET = Code(
    "year_outside_budget", 422, "the project's approved annual budgets have no such year (`year`)"
)
ALLOCATION_EXCEEDS_BUDGET = Code(
    "allocation_exceeds_budget", 409, "the plan would allocate more than a year's approved budget"
)
DISBURSEMENT_REFUSED = Code(
    "disbursement_refused",
    409,
    "a gate is closed, or the effective allocation, the approved annual budget or the"
    " approved total would be exceeded (`violations`: every reason)",
)
RETURN_REFUSED = Code("return_refused", 409, "the return exceeds what was disbursed (`violations`)")
PROFILE_MISMATCH = Code(
    "profile_not_permitted", 403, "an administrator sets its own jurisdiction's profile only"
)
DATE_OUT_OF_RANGE = Code(
    "date_out_of_range", 422, "a date outside what the calendar and budgets can answer"
)

CODES: tuple[Code, ...] = codes_in(globals())


not_found = NOT_FOUND.missing


def project_unknown(project_id: object) -> GovitError:
    return PROJECT_UNKNOWN.error(
        f"project {project_id} is not one of your jurisdiction's approved projects",
        extra={"project_id": str(project_id)},
    )


def year_outside_budget(project_id: object, year: int, years: list[int]) -> GovitError:
    return YEAR_OUTSIDE_BUDGET.error(
        f"project {project_id} has no approved budget for {year}; budget years: {years}",
        extra={"year": year, "budget_years": years},
    )


def disbursement_refused(violations: list[Violation]) -> GovitError:
    return DISBURSEMENT_REFUSED.error(
        "the disbursement is refused; every reason is in `violations`", violations=violations
    )
