"""Every error the registry answers with, declared once: code, status, meaning.

A ``code`` is public contract: integrators switch on it, so it is never renamed and
never spelled inline where it is raised. Code elsewhere raises through the
constructors below (or ``Code.error``); routes document what they raise with the
kit's ``shared.codes.described`` (through ``shared.route_errors.Raises``), so the
OpenAPI document names the codes behind each status. ``Code`` is the kit's
(``shared.codes``).

Errors the kit owns are not repeated here: ``not_found``/``forbidden``
(``shared.errors``), the spreadsheet limits' 413s (``shared.spreadsheets``), the
heavy-work pool's 429/503, the Idempotency-Key 409/422 (``shared.idempotency``) and
pydantic's 422 ``validation_failed``. The import's row report ``import_invalid``
is built next to the rows it reports (``spreadsheets.import_refused``), with its code
from here.

This module imports nothing of the registry and no framework: ``domain`` may use it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.codes import Code, codes_in
from shared.errors import GovitError, Violation

# --- the catalogue (stable codes: add, never rename) ----------------------------------

NOT_FOUND = Code("not_found", 404, "no such record, or not yours to read (the same answer)")
FORBIDDEN = Code("forbidden", 403, "not the owning unit's (or its jurisdiction admin's) to change")
JURISDICTION_NOT_PERMITTED = Code(
    "jurisdiction_not_permitted", 403, "an admin acts in its own jurisdiction only"
)
FIELD_NOT_PERMITTED = Code(
    "field_not_permitted", 403, "the government cloud platform changes `cloud` only (`fields`)"
)
SCOPE_REQUIRED = Code(
    "scope_required", 403, "reporting `cloud` needs the scope `registry:cloud:write`"
)
UNIT_NAME_TAKEN = Code(
    "unit_name_taken", 409, "the jurisdiction has a unit of that name (`existing_unit`)"
)
PARENT_UNKNOWN = Code("parent_unknown", 422, "the parent unit does not exist")
PARENT_JURISDICTION_DIFFERS = Code(
    "parent_jurisdiction_differs", 422, "a unit and its parent share a jurisdiction"
)
UNIT_UNKNOWN = Code("unit_unknown", 422, "the owning unit is not in the unit directory")
CATALOGUE_ENTRY_REFUSED = Code(
    "catalogue_entry_refused", 422, "the entry breaks the unit's regulation (`violations`)"
)
SYSTEM_RETIRED = Code(
    "system_retired", 409, "a retired system is history and changes no more (`violations`)"
)
STATUS_TRANSITION_INVALID = Code(
    "status_transition_invalid", 409, "status moves forward only (`violations`)"
)
IMPORT_INVALID = Code(
    "import_invalid",
    422,
    "rows the file cannot import (`errors`: row, column, message); none stored",
)
FILE_MISSING = Code("file_missing", 422, "a multipart upload without its `file` field")
IMPORT_DEADLINE_EXCEEDED = Code(
    "import_deadline_exceeded", 503, "the import ran out of time; nothing was stored"
)
# Never an answer's status: the ``code`` of a background import's one error when it
# failed (not refused) on every attempt (``GET /imports/{id}``).
IMPORT_FAILED = Code("import_failed", 500, "the import failed on every attempt; nothing was stored")

CODES: tuple[Code, ...] = codes_in(globals())
_BY_CODE = {c.code: c for c in CODES}


# --- constructors for the errors raised with more than a message ------------------------


def not_found(what: str, ident: object) -> GovitError:
    return NOT_FOUND.missing(what, ident)


def unit_name_taken(jurisdiction: str, name: str, existing: object) -> GovitError:
    return UNIT_NAME_TAKEN.error(
        f"{jurisdiction} already has a unit named {name}: {existing}",
        extra={"existing_unit": str(existing)},
    )


def catalogue_entry_refused(violations: list[Violation]) -> GovitError:
    return CATALOGUE_ENTRY_REFUSED.error(
        "the catalogue entry breaks the unit's regulation", violations=violations
    )


def lifecycle_refused(current: str, violation: Violation) -> GovitError:
    """409 for a change the lifecycle refuses: ``system_retired`` once retired, else
    ``status_transition_invalid``; the rule rides along as the violation."""
    code = SYSTEM_RETIRED if current == "retired" else STATUS_TRANSITION_INVALID
    return code.error(violation.message_en, violations=[violation])


def change_refused(code: str, detail: str, extra: Mapping[str, Any]) -> GovitError:
    """The 403 ``domain.change_refusal`` explained (its code is one declared above)."""
    return _BY_CODE[code].error(detail, extra=extra)


def import_deadline_exceeded(seconds: float) -> GovitError:
    # Raised through the request's session, which rolls back: nothing is stored.
    return IMPORT_DEADLINE_EXCEEDED.error(
        f"the import did not finish within {seconds:.0f} s; nothing was stored."
        " Split the file and retry",
        extra={"message_zh": "导入未能在时限内完成，未保存任何数据；请拆分文件后重试"},
        headers={"Retry-After": "60"},
    )
