"""What goes out: answers (``*_out``), event data (``*_payload``) and the rules'
input built from projection rows (``*_state``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, cast

from services.funding import domain
from shared.clock import SHANGHAI


def _source(row: Any) -> domain.Source:
    return domain.Source(row.event_type, row.event_id, row.event_time)


def _day(at: datetime | None) -> Any:
    return at.astimezone(SHANGHAI).date() if at is not None else None


def project_state(row: Any) -> domain.ProjectState:
    return domain.ProjectState(
        status=row.status,
        approved_total=row.approved_total,
        system_ids=[str(i) for i in row.system_ids],
        source=_source(row),
        since=_day(row.event_time),
    )


def system_state(row: Any) -> domain.SystemState:
    return domain.SystemState(
        id=str(row.id),
        catalogued=row.catalogued,
        data_shared=row.data_shared,
        on_cloud=row.on_cloud,
        secure=row.secure,
        source=_source(row),
        since=_day(row.event_time),
    )


def record_state(row: Any) -> domain.Record:
    return domain.Record(
        kind=row.kind,
        type=row.type,
        source=_source(row),
        passed=row.passed,
        rule=row.rule,
        since=_day(row.event_time),
    )


def facts_out(facts: domain.Facts) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in domain.FACT_NAMES:
        fact = facts[name]
        out[name] = {
            "value": fact.value,
            "event": fact.source.as_dict() if fact.source is not None else None,
        }
    return out


def gates_out(gates: Mapping[Any, domain.Gate]) -> dict[str, Any]:
    return {category: gate.as_dict() for category, gate in gates.items()}


def gate_payload(project: Any, gate: domain.Gate, version: int) -> dict[str, Any]:
    return {
        "project_id": str(project.id),
        "org": str(project.org),
        "jurisdiction": project.jurisdiction,
        "category": gate.category,
        "open": gate.open,
        "violations": [v.as_dict() for v in gate.violations],
        "version": version,
    }


def movement_out(row: Any) -> dict[str, Any]:
    """``MovementOut`` of an asyncpg ``Record`` (a list page, the fast read path), a
    mapping, a Core row or an object with the fields as attributes."""
    m = _fields(row)
    return {
        "id": str(m["id"]),
        "project_id": str(m["project_id"]),
        "kind": m["kind"],
        "status": "disbursed" if m["kind"] == "disbursement" else "returned",
        "category": m["category"],
        "year": m["year"],
        "amount": f"{m['amount']:.2f}",
        "reason": m["reason"],
        "created_at": m["created_at"].isoformat(),
    }


def _fields(row: Any) -> Mapping[str, Any]:
    if hasattr(row, "keys"):  # a Record, a dict
        return cast(Mapping[str, Any], row)
    mapping = getattr(row, "_mapping", None)  # a Core row
    return cast(Mapping[str, Any], mapping if mapping is not None else vars(row))


def disbursement_payload(row: Mapping[str, Any], disbursed_total: Any) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "project_id": str(row["project_id"]),
        "org": str(row["org"]),
        "jurisdiction": row["jurisdiction"],
        "category": row["category"],
        "year": row["year"],
        "amount": f"{row['amount']:.2f}",
        "disbursed_total": f"{disbursed_total:.2f}",
        "version": 1,
    }


def return_payload(row: Mapping[str, Any], disbursed_total: Any) -> dict[str, Any]:
    """``govit.funding.surplus.returned``: the movement (negative) and why."""
    return {**disbursement_payload(row, disbursed_total), "reason": row["reason"]}


def budgets(project: Any) -> dict[int, Any]:
    """The approved annual budgets as {year: Decimal}."""
    return {int(b["year"]): Decimal(str(b["amount"])) for b in project.approved_annual_budgets}


def money(value: Any) -> str:
    return f"{value:.2f}"


def plan_out(
    plan: Mapping[str, Any], items: Sequence[Mapping[str, Any]], today: Any
) -> dict[str, Any]:
    return {
        "id": str(plan["id"]),
        "status": "effective" if plan["effective_on"] <= today else "in_notice",
        "year": plan["year"],
        "published_on": plan["published_on"].isoformat(),
        "effective_on": plan["effective_on"].isoformat(),
        "notice_workdays": plan["notice_workdays"],
        "items": [
            {
                "project_id": str(i["project_id"]),
                "category": i["category"],
                "amount": money(i["amount"]),
            }
            for i in items
        ],
    }
