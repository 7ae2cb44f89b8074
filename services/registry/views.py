"""Every shape the registry sends out, built in one place from a stored row.

Three kinds, named by where they go (docs/services.md, "A response"):

- ``*_out``: an answer's body, the dict ``schemas.*Out`` documents. Routes return
  it; the read path serialises it once (no ORM-to-model validation on the way out);
- ``*_payload``: an event's ``data``, the shape its JSON Schema file
  (``shared/events/schemas/govit.registry.*.json``) fixes; ``tests/registry/
  test_shape.py`` checks each against its file;
- ``entry``: the catalogue fields ``domain`` reasons about (the rules' input).

Each takes a row: a Core row mapping (the read path reads those) or an ORM object,
read once.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

from services.registry import domain, errors
from services.registry.models import Resource, System, Unit
from shared.errors import GovitError, Violation

_SYSTEM_COLUMNS = tuple(System.__table__.columns)
_ENTRY_FIELDS = (*domain.SYSTEM_FIELDS, "resource_count", "shared_resource_count")
_RESOURCE_COLUMNS = tuple(Resource.__table__.columns)
_pick_fields = operator.itemgetter(*domain.SYSTEM_FIELDS)

SystemRow = System | Mapping[str, Any]


def _row(system: SystemRow) -> Mapping[str, Any]:
    """A ``systems`` row as a mapping: Core rows pass through, ORM objects are read once."""
    if isinstance(system, System):
        return {column.key: getattr(system, column.key) for column in _SYSTEM_COLUMNS}
    return system


# --- systems ------------------------------------------------------------------------


def system_payload(system: SystemRow, changed: Iterable[str] | None = None) -> dict[str, Any]:
    """``govit.registry.system.registered`` (and ``.updated`` with ``changed``): the full
    current state, so a consumer's projection needs no other event to be right."""
    row = _row(system)
    payload: dict[str, Any] = {
        "id": str(row["id"]),
        "org": str(row["org_id"]),
        "jurisdiction": row["jurisdiction"],
    }
    for field in domain.SYSTEM_FIELDS:
        payload[field] = row[field]
    payload["resource_count"] = row["resource_count"]
    payload["facts"] = _facts(row)
    payload["version"] = row["version"]
    if changed is not None:
        payload["changed"] = sorted(changed)
    return payload


def system_out(system: SystemRow) -> dict[str, Any]:
    """``SystemOut``: the state events carry, with its timestamps.

    The read path's per-row cost (a page of 50 shapes 50 of these): the catalogue
    fields are picked in one ``itemgetter`` call, not one lookup each.
    """
    row = _row(system)
    out: dict[str, Any] = {
        "id": str(row["id"]),
        "org": str(row["org_id"]),
        "jurisdiction": row["jurisdiction"],
    }
    out.update(zip(domain.SYSTEM_FIELDS, _pick_fields(row), strict=True))
    out["resource_count"] = row["resource_count"]
    out["facts"] = _facts(row)
    out["version"] = row["version"]
    out["created_at"] = row["created_at"]
    out["updated_at"] = row["updated_at"]
    return out


def entry(system: SystemRow) -> dict[str, Any]:
    """The catalogue fields ``domain`` reasons about."""
    row = _row(system)
    return {field: row[field] for field in _ENTRY_FIELDS}


def compliance_out(system: SystemRow, violations: Iterable[Violation]) -> dict[str, Any]:
    """``ComplianceOut``: the facts and what keeps them false, under the unit's profile."""
    row = _row(system)
    return {
        "system_id": row["id"],
        "profile": row["jurisdiction"],
        "facts": _facts(row),
        "violations": [v.as_dict() for v in violations],
    }


def _facts(row: Mapping[str, Any]) -> dict[str, bool]:
    return dict(_facts_of(_pick_fact_inputs(row)))


# ``domain.facts`` reads the catalogue entry, never its name: a page's rows mostly
# repeat a handful of combinations, so each combination's facts are computed once.
# ``domain.facts`` is handed only these fields, so a rule that reads another one
# fails at once (KeyError) instead of being answered from this memory.
_FACT_INPUTS = tuple(f for f in _ENTRY_FIELDS if f != "name")
_pick_fact_inputs = operator.itemgetter(*_FACT_INPUTS)


@lru_cache(maxsize=1024)
def _facts_of(values: tuple[Any, ...]) -> dict[str, bool]:
    # ``Facts`` is a flat dataclass: its ``vars`` is the dict, without asdict's deep copy.
    return dict(vars(domain.facts(dict(zip(_FACT_INPUTS, values, strict=True)))))


# --- units and resources ----------------------------------------------------------------


def unit_payload(unit: Unit) -> dict[str, Any]:
    """``govit.registry.unit.registered``."""
    return {
        "id": str(unit.id),
        "name": unit.name,
        "jurisdiction": unit.jurisdiction,
        "parent": str(unit.parent_id) if unit.parent_id else None,
    }


def unit_out(unit: Unit) -> dict[str, Any]:
    """``UnitOut``."""
    return {
        "id": unit.id,
        "name": unit.name,
        "jurisdiction": unit.jurisdiction,
        "parent": unit.parent_id,
        "created_at": unit.created_at,
    }


def resource_out(resource: Resource | Mapping[str, Any]) -> dict[str, Any]:
    """``ResourceOut``: a ``resources`` row as it is stored."""
    if isinstance(resource, Resource):
        return {c.key: getattr(resource, c.key) for c in _RESOURCE_COLUMNS}
    return dict(resource)


# --- background imports ------------------------------------------------------------------

_IMPORT_FIELDS = (
    "state",
    "imported",
    "errors",
    "error_count",
    "encoding",
    "created_at",
    "started_at",
    "finished_at",
)


def import_out(row: Mapping[str, Any]) -> dict[str, Any]:
    """``ImportStatus``: a background import (an ``imports`` row, its file left out)."""
    out: dict[str, Any] = {"id": str(row["id"])}
    out.update((field, row[field]) for field in _IMPORT_FIELDS)
    return out


def import_refusal(error: GovitError) -> tuple[list[dict[str, Any]], int]:
    """(``errors``, ``error_count``) of a refused background import.

    The rows' errors exactly as the synchronous 422 ``import_invalid`` lists them; any
    other refusal concerns the whole file (``too_many_rows``, a rule the whole import
    broke): one error without a row or column, carrying the refusal's ``code``.
    """
    if error.code == errors.IMPORT_INVALID.code:
        listed: list[dict[str, Any]] = list(error.extra["errors"])
        return listed, int(error.extra.get("error_count", len(listed)))
    whole_file = {
        "row": None,
        "column": None,
        "message": error.detail or error.code,
        "message_zh": str(error.extra.get("message_zh") or error.detail or error.code),
        "code": error.code,
    }
    return [whole_file], 1
