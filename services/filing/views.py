"""What goes out: ``*_out`` (answers) and ``*_payload`` (event data, full state).

Each takes an ORM object (a page's ``*_out`` also an asyncpg ``Record``); the payloads
follow docs/event-payloads.md exactly.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any, cast

from services.filing.models import Acceptance, CalendarYear, Filing, Obligation


def _day(d: date | None) -> str | None:
    return None if d is None else d.isoformat()


# A page's rows are asyncpg ``Record``s (the fast read path: ``repository.filings_page``),
# a use case's are ORM objects: both are read as mappings, so each is shaped once.
FilingRow = Filing | Mapping[str, Any]
ObligationRow = Obligation | Mapping[str, Any]


def _row(item: Any) -> Mapping[str, Any]:
    if hasattr(item, "keys"):  # a Record or a mapping
        return cast(Mapping[str, Any], item)
    return {column.key: getattr(item, column.key) for column in item.__table__.columns}


def _id(value: Any) -> str | None:
    return None if value is None else str(value)


def filing_payload(filing: FilingRow) -> dict[str, Any]:
    f = _row(filing)
    return {
        "id": str(f["id"]),
        "project_id": str(f["project_id"]),
        "org": str(f["org"]),
        "jurisdiction": f["jurisdiction"],
        "type": f["type"],
        "event_date": f["event_date"].isoformat(),
        "filed_on": f["filed_on"].isoformat(),
        "due_on": _day(f["due_on"]),
        "on_time": f["on_time"],
        "obligation_id": _id(f["obligation_id"]),
        "passed": f["passed"],
        "trial_run_started_on": _day(f["trial_run_started_on"]),
        "catalogue_joined": f["catalogue_joined"],
        "secure_controllable": f["secure_controllable"],
        "version": f["version"],
    }


def filing_out(filing: FilingRow) -> dict[str, Any]:
    f = _row(filing)
    return {
        **filing_payload(f),
        "documents": f["documents"],
        "details": f["details"],
        "review": f["review"],
    }


def obligation_payload(obligation: ObligationRow) -> dict[str, Any]:
    o = _row(obligation)
    return {
        "id": str(o["id"]),
        "project_id": str(o["project_id"]),
        "org": str(o["org"]),
        "jurisdiction": o["jurisdiction"],
        "type": o["type"],
        "rule": o["rule"],
        "due_on": _day(o["due_on"]),
        "status": o["status"],
        "met_by": _id(o["met_by"]),
        "version": o["version"],
    }


def obligation_out(obligation: ObligationRow) -> dict[str, Any]:
    o = _row(obligation)
    return {**obligation_payload(o), "period": o["period"]}


def obligation_brief(o: Obligation) -> dict[str, Any]:
    return {"id": str(o.id), "type": o.type, "due_on": _day(o.due_on), "status": o.status}


def recomputed_payload(o: Obligation, before: date | None) -> dict[str, Any]:
    return {**obligation_payload(o), "before": _day(before), "after": _day(o.due_on)}


def recomputed_out(o: Obligation, before: date | None) -> dict[str, Any]:
    return {
        "obligation_id": str(o.id),
        "project_id": str(o.project_id),
        "type": o.type,
        "before": _day(before),
        "after": _day(o.due_on),
        "status": o.status,
    }


def acceptance_payload(a: Acceptance) -> dict[str, Any]:
    return {
        "id": str(a.id),
        "project_id": str(a.project_id),
        "org": str(a.org),
        "jurisdiction": a.jurisdiction,
        "accepted_on": a.accepted_on.isoformat(),
        "passed": a.passed,
        "opinion": a.opinion,
        "version": a.version,
    }


def acceptance_out(a: Acceptance, obligation: Obligation | None) -> dict[str, Any]:
    brief = None if obligation is None else obligation_brief(obligation)
    return {**acceptance_payload(a), "obligation": brief}


def calendar_payload(y: CalendarYear) -> dict[str, Any]:
    return {
        "id": str(y.year),  # the subject (added to event-payloads.md's fields)
        "year": y.year,
        "holidays": list(y.holidays),
        "workdays": list(y.workdays),
        "source": y.source,
        "version": y.version,
    }


def calendar_out(
    year: int, source: str, notice: str | None, holidays: list[date], workdays: list[date]
) -> dict[str, Any]:
    return {
        "year": year,
        "source": source,
        "notice": notice,
        "holidays": [d.isoformat() for d in holidays],
        "workdays": [d.isoformat() for d in workdays],
    }
