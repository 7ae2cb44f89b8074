"""Every shape the evaluation service sends out, built in one place from a stored row.

``*_out``: an answer's body (``schemas.*Out`` documents it); ``*_payload``: an event's
``data``, the shape its JSON Schema file (``shared/events/schemas/govit.evaluation.*``)
fixes, full state and ``version``. Each takes an ORM object or a Core row mapping.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from services.evaluation import domain
from services.evaluation.models import Assessment, Evaluation, Rectification, SpotCheck

Row = Any  # an ORM object, a Core row mapping or an asyncpg Record (a list page's rows)


def _get(row: Row, field: str) -> Any:
    return getattr(row, field) if hasattr(row, "__table__") else row[field]


def _id(value: Any) -> str | None:
    return None if value is None else str(value)


def _day(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def _number(value: Decimal | str | None) -> float | None:
    return None if value is None else float(Decimal(value))


def _scores(row: Row) -> dict[str, float]:
    return {d: float(Decimal(v)) for d, v in (_get(row, "scores") or {}).items()}


# --- evaluations ------------------------------------------------------------------------


def evaluation_out(row: Row) -> dict[str, Any]:
    return {
        "id": str(_get(row, "id")),
        "project_id": _id(_get(row, "project_id")),
        "org": str(_get(row, "org")),
        "jurisdiction": _get(row, "jurisdiction"),
        "kind": _get(row, "kind"),
        "method": _get(row, "method"),
        "year": _get(row, "year"),
        "status": _get(row, "status"),
        "scores": _scores(row),
        "total_score": _number(_get(row, "total_score")),
        "grade": _get(row, "grade"),
        "failing": _get(row, "failing"),
        "scoring": domain.DEFAULT_SOURCE,
        "filing_id": _id(_get(row, "filing_id")),
        "obligation_id": _id(_get(row, "obligation_id")),
        "completed_on": _day(_get(row, "completed_on")),
        "version": _get(row, "version"),
    }


def evaluation_payload(evaluation: Evaluation) -> dict[str, Any]:
    """``govit.evaluation.evaluation.completed``."""
    return {
        "id": str(evaluation.id),
        "project_id": _id(evaluation.project_id),
        "org": str(evaluation.org),
        "jurisdiction": evaluation.jurisdiction,
        "kind": evaluation.kind,
        "method": evaluation.method,
        "year": evaluation.year,
        "scores": _scores(evaluation),
        "total_score": _number(evaluation.total_score),
        "grade": evaluation.grade,
        "failing": evaluation.failing,
        "obligation_id": _id(evaluation.obligation_id),
        "completed_on": _day(evaluation.completed_on),
        "version": evaluation.version,
    }


# --- rectifications -----------------------------------------------------------------------


def rectification_out(row: Row, today: date) -> dict[str, Any]:
    return {
        "id": str(_get(row, "id")),
        "project_id": str(_get(row, "project_id")),
        "org": str(_get(row, "org")),
        "jurisdiction": _get(row, "jurisdiction"),
        "reason": _get(row, "reason"),
        "status": _get(row, "status"),
        "due_on": _day(_get(row, "due_on")),
        "ordered_on": _day(_get(row, "ordered_on")),
        "suggested_on": _day(_get(row, "suggested_on")),
        "rule": _get(row, "rule"),
        "evidence": _get(row, "evidence"),
        "obligation_id": _id(_get(row, "obligation_id")),
        "overdue": domain.overdue(_get(row, "status"), _get(row, "due_on"), today),
        "version": _get(row, "version"),
    }


def rectification_detail(
    order: Rectification, today: date, history: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    trail = [
        {
            "at": r["at"].isoformat(),
            "actor": r["actor"],
            "actor_org": r["actor_org"],
            "changes": r["changes"],
        }
        for r in history
    ]
    return {**rectification_out(order, today), "history": trail}


def rectification_payload(order: Rectification) -> dict[str, Any]:
    """``govit.evaluation.rectification.*`` (never for a mere suggestion: it has no
    ``due_on`` or ``ordered_on`` yet, and nothing follows from it)."""
    assert order.due_on is not None and order.ordered_on is not None
    return {
        "id": str(order.id),
        "project_id": str(order.project_id),
        "org": str(order.org),
        "jurisdiction": order.jurisdiction,
        "reason": order.reason,
        "status": order.status,
        "due_on": order.due_on.isoformat(),
        "ordered_on": order.ordered_on.isoformat(),
        "rule": order.rule,
        "version": order.version,
    }


def rectification_state(order: Rectification) -> dict[str, Any]:
    """What a revision records of an order."""
    return {
        "status": order.status,
        "due_on": _day(order.due_on),
        "ordered_on": _day(order.ordered_on),
        "evidence": order.evidence,
    }


# --- assessments --------------------------------------------------------------------------


def assessment_out(row: Row) -> dict[str, Any]:
    return {
        "id": str(_get(row, "id")),
        "org": str(_get(row, "org")),
        "jurisdiction": _get(row, "jurisdiction"),
        "year": _get(row, "year"),
        "score": _number(_get(row, "score")),
        "grade": _get(row, "grade"),
        "comment": _get(row, "comment"),
        "version": _get(row, "version"),
    }


def assessment_payload(assessment: Assessment) -> dict[str, Any]:
    """``govit.evaluation.assessment.published``."""
    return assessment_out(assessment)


# --- spot checks ------------------------------------------------------------------------


def spot_check_out(check: SpotCheck) -> dict[str, Any]:
    return {
        "id": str(check.id),
        "jurisdiction": check.jurisdiction,
        "year": check.year,
        "size": check.size,
        "seed": check.seed,
        "population": check.population,
        "sample": [str(i) for i in check.sample],
    }
