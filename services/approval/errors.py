"""Every error the approval service answers with, declared once: code, status, meaning.

A ``code`` is public contract: integrators switch on it, so it is never renamed and
never spelled inline where it is raised. Routes document what they raise with
``described(...)``. Errors the kit owns are not repeated here: the Idempotency-Key
409/422, pydantic's 422 ``validation_failed``, ``cursor_invalid``, the heavy-work
pool's 429/503.

This module imports nothing of the service and no framework: ``domain`` may use it.
"""

from __future__ import annotations

from collections.abc import Iterable

from shared.codes import Code, codes_in
from shared.errors import GovitError, Violation

# --- the catalogue (stable codes: add, never rename) ----------------------------------

NOT_FOUND = Code("not_found", 404, "no such project (or change), or not yours to read")
FORBIDDEN = Code("forbidden", 403, "only the lead unit writes its project")
ROLE_REQUIRED = Code("role_required", 403, "the token holds none of the roles this needs")
UNIT_UNKNOWN = Code(
    "unit_unknown",
    409,
    "the registry's event for the unit has not arrived yet (`units`); retry in a moment",
)
CO_ORG_INVALID = Code(
    "co_org_invalid", 422, "a co-builder is the lead unit itself or of another jurisdiction"
)
SYSTEM_NOT_PERMITTED = Code(
    "system_not_permitted",
    422,
    "a system belongs to neither the lead unit nor a co-builder (`system_ids`)",
)
BUDGETS_INVALID = Code(
    "budgets_invalid", 422, "annual budgets of years already past, too far ahead, or repeated"
)
PRESCREEN_FAILED = Code(
    "prescreen_failed", 422, "the pre-screen refused the application: every reason (`violations`)"
)
STATUS_TRANSITION_INVALID = Code(
    "status_transition_invalid", 409, "the project's status does not allow this (`violations`)"
)
OPINION_MISSING = Code(
    "opinion_missing", 409, "a required reviewer opinion is missing (`violations`, `topics`)"
)
DECISION_INVALID = Code(
    "decision_invalid",
    422,
    "approved amounts above what was asked, of years not asked, or not adding up (`violations`)",
)
CHANGE_REFUSED = Code(
    "change_refused", 422, "the change is refused by the regulation or is malformed (`violations`)"
)
CHANGE_NOT_PENDING = Code(
    "change_not_pending", 409, "only a pending major change is decided (`violations`)"
)

CODES: tuple[Code, ...] = codes_in(globals())


# --- constructors -------------------------------------------------------------------


not_found = NOT_FOUND.missing


def unit_unknown(units: Iterable[object]) -> GovitError:
    ids = sorted(str(u) for u in units)
    return UNIT_UNKNOWN.error(
        f"unit(s) {', '.join(ids)} not known to approval yet: the registry's event has not"
        " arrived. Retry in a few seconds (an admin registers the unit first)",
        extra={"units": ids, "message_zh": "尚未收到登记平台的单位信息，请稍后重试"},
        headers={"Retry-After": "5"},
    )


def transition_refused(violation: Violation) -> GovitError:
    return STATUS_TRANSITION_INVALID.error(violation.message_en, violations=[violation])


def prescreen_failed(violations: list[Violation]) -> GovitError:
    return PRESCREEN_FAILED.error(
        f"the application fails the pre-screen ({len(violations)} reason(s)); nothing changed",
        violations=violations,
    )


def opinion_missing(violations: list[Violation], topics: list[str]) -> GovitError:
    return OPINION_MISSING.error(
        f"required opinion(s) missing: {', '.join(topics)}",
        violations=violations,
        extra={"topics": topics},
    )
