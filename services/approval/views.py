"""Every shape approval sends out, built in one place from a stored row.

- ``*_out``: an answer's body (the dict ``schemas.*Out`` documents);
- ``project_payload``: the ``data`` of every ``govit.approval.project.*`` event
  (docs/event-payloads.md; ``shared/events/schemas/govit.approval.project.*.json``);
- ``application``: the project as the pre-screen (``domain``) reads it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from services.approval import domain
from services.approval.models import Change, Material, Opinion, Project, Review

ProjectRow = Project | Mapping[str, Any]
_PROJECT_COLUMNS = tuple(Project.__table__.columns)


def money(value: Decimal | None) -> str | None:
    return None if value is None else f"{value:.2f}"


def budgets_json(budgets: Iterable[Any]) -> list[dict[str, Any]]:
    """``[{year, amount}]`` as stored and sent: amounts as strings, years in order."""
    rows = [
        (b.year, b.amount) if hasattr(b, "year") else (int(b["year"]), Decimal(b["amount"]))
        for b in budgets
    ]
    return [{"year": year, "amount": f"{amount:.2f}"} for year, amount in sorted(rows)]


def budget_pairs(budgets: Sequence[Mapping[str, Any]]) -> tuple[tuple[int, Decimal], ...]:
    return tuple((int(b["year"]), Decimal(str(b["amount"]))) for b in budgets)


def _row(project: ProjectRow) -> Mapping[str, Any]:
    if isinstance(project, Project):
        return {c.key: getattr(project, c.key) for c in _PROJECT_COLUMNS}
    return project


def project_payload(project: ProjectRow, **extra: Any) -> dict[str, Any]:
    """The project's full state, the data of every ``govit.approval.project.*`` event."""
    row = _row(project)
    payload: dict[str, Any] = {
        "id": str(row["id"]),
        "org": str(row["org_id"]),
        "co_orgs": [str(o) for o in row["co_orgs"] or []],
        "jurisdiction": row["jurisdiction"],
        "profile": row["profile"],
        "profile_version": row["profile_version"],
        "name": row["name"],
        "number": row["number"],
        "status": row["status"],
        "delivery": row["delivery"],
        "kind": row["kind"],
        "total_investment": money(row["total_investment"]),
        "annual_budgets": budgets_json(row["annual_budgets"]),
        "approved_total": money(row["approved_total"]),
        "approved_annual_budgets": budgets_json(row["approved_annual_budgets"] or []),
        "system_ids": [str(s) for s in row["system_ids"]],
        "planned_completion_on": _date(row["planned_completion_on"]),
        "approved_on": _date(row["approved_on"]),
        "version": row["version"],
    }
    payload.update(extra)
    return payload


def _date(value: Any) -> str | None:
    return None if value is None else value.isoformat()


def project_out(project: ProjectRow) -> dict[str, Any]:
    """``ProjectOut``."""
    row = _row(project)
    org = str(row["org_id"])
    # Ids as text here: orjson writes str at once, while a UUID (asyncpg's own type on
    # the read path) goes through its fallback one value at a time.
    return {
        "id": str(row["id"]),
        "name": row["name"],
        "org": org,
        "lead_org": org,
        "co_orgs": [str(o) for o in row["co_orgs"] or []],
        "jurisdiction": row["jurisdiction"],
        "profile": row["profile"],
        "profile_version": row["profile_version"],
        "number": row["number"],
        "status": row["status"],
        "delivery": row["delivery"],
        "kind": row["kind"],
        "total_investment": money(row["total_investment"]),
        "annual_budgets": budgets_json(row["annual_budgets"]),
        "approved_total": money(row["approved_total"]),
        "approved_annual_budgets": budgets_json(row["approved_annual_budgets"] or []),
        "system_ids": [str(s) for s in row["system_ids"]],
        "declarations": dict(row["declarations"] or {}),
        "merged_plan_ground": row["merged_plan_ground"],
        "planned_completion_on": row["planned_completion_on"],
        "approved_on": row["approved_on"],
        "version": row["version"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


def project_detail(
    project: Project,
    materials: Iterable[Material],
    opinions: Iterable[Opinion],
    reviews: Iterable[Review],
    changes: Iterable[Change],
    required_opinions: Iterable[str],
    assessment: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """``ProjectDetail``: the project with what reviewers read (API.md)."""
    return {
        **project_out(project),
        "materials": [material_out(m) for m in materials],
        "opinions": [_columns(o) for o in opinions],
        "reviews": [_columns(r) for r in reviews],
        "changes": [change_out(c) for c in changes],
        "required_opinions": list(required_opinions),
        "unit_assessment": assessment_out(assessment) if assessment else None,
    }


def _columns(record: Any) -> dict[str, Any]:
    return {c.key: getattr(record, c.key) for c in type(record).__table__.columns}


def material_out(material: Material) -> dict[str, Any]:
    return {k: v for k, v in _columns(material).items()}


def opinion_out(opinion: Opinion) -> dict[str, Any]:
    return _columns(opinion)


def review_out(review: Review) -> dict[str, Any]:
    return _columns(review)


def change_out(change: Change) -> dict[str, Any]:
    return {
        "id": change.id,
        "project_id": change.project_id,
        "classification": change.classification,
        "status": change.status,
        "rule": change.rule,
        "new_total": money(change.new_total),
        "adjusted_amount": money(change.adjusted_amount),
        "goals_changed": change.goals_changed,
        "content": change.content,
        "reason": change.reason,
        "annual_budgets": (
            budgets_json(change.annual_budgets) if change.annual_budgets is not None else None
        ),
        "created_at": change.created_at,
        "decided_at": change.decided_at,
    }


def change_payload(change: Change) -> dict[str, Any]:
    """The ``change`` of a ``govit.approval.project.changed`` event."""
    return {
        "id": str(change.id),
        "classification": change.classification,
        "status": change.status,
        "new_total": money(change.new_total),
        "adjusted_amount": money(change.adjusted_amount),
    }


def assessment_out(row: Mapping[str, Any]) -> dict[str, Any]:
    score = row["score"]
    return {
        "id": row["id"],
        "year": row["year"],
        "score": None if score is None else f"{score:.2f}",
        "grade": row["grade"],
        "comment": row["comment"],
    }


def history_out(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "at": row["at"],
        "actor": row["actor"],
        "action": row["action"],
        "rule": row["rule"],
        "cause": row["cause"],
        "changes": row["changes"],
    }


def application(project: Project, materials: Iterable[str]) -> domain.Application:
    """The project as the pre-screen reads it."""
    return domain.Application(
        org=project.org_id,
        co_orgs=tuple(project.co_orgs or ()),
        jurisdiction=project.jurisdiction,
        delivery=project.delivery,
        kind=project.kind,
        total_investment=project.total_investment,
        annual_budgets=budget_pairs(project.annual_budgets),
        system_ids=tuple(project.system_ids),
        declarations=dict(project.declarations or {}),
        merged_plan_ground=project.merged_plan_ground,
        materials=frozenset(materials),
    )


EXPORT_COLUMNS = (
    "number",
    "name",
    "org",
    "unit_name",
    "status",
    "total_investment",
    "approved_total",
    "approved_budget_of_year",
    "approved_on",
    "planned_completion_on",
)


def export_row(row: Mapping[str, Any], unit_name: str | None, year: int) -> tuple[Any, ...]:
    """One line of the annual project list (leshan:17)."""
    of_year = next(
        (
            b["amount"]
            for b in budgets_json(row["approved_annual_budgets"] or [])
            if b["year"] == year
        ),
        None,
    )
    return (
        row["number"],
        row["name"],
        str(row["org_id"]),
        unit_name or "",
        row["status"],
        money(row["total_investment"]),
        money(row["approved_total"]),
        of_year or "",
        _date(row["approved_on"]) or "",
        _date(row["planned_completion_on"]) or "",
    )
