"""What the evaluation service does with other services' events (docs/event-payloads.md).

- ``govit.approval.project.*``: the project projection (org, co-builders,
  jurisdiction, profile and its version, status);
- ``govit.registry.unit.registered``: the unit directory (assessments, token checks);
- ``govit.filing.self_evaluation.filed``: the filing and the obligation it met, which
  a self-evaluation links to;
- ``govit.filing.calendar.loaded``: a year's official schedule, kept;
- ``govit.filing.deadline.missed``: a missed acceptance obligation *suggests* an
  ``acceptance_delayed`` order, which the authority confirms or dismisses; nothing
  is ordered, let alone escalated, without a person.

Each handler runs in the consumer's transaction with the inbox row
(``shared.events.consumer``): a redelivered event changes nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import date
from typing import Any

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from services.evaluation import domain, repository
from services.evaluation.models import calendar_years, events, projects, self_evaluation_filings
from shared.auth import Principal
from shared.events import Event
from shared.events.consumer import Consumer
from shared.events.projection import Projection
from shared.ids import new_id
from shared.policy import load_profile


def _uuid(value: Any) -> uuid.UUID | None:
    return None if value is None else uuid.UUID(str(value))


def _date(value: Any) -> date | None:
    return None if value is None else date.fromisoformat(str(value))


def project_row(event: Event) -> dict[str, Any]:
    data = event.data
    return {
        "id": _uuid(event.subject or data["id"]),
        "org": _uuid(data["org"]),
        "co_orgs": [_uuid(o) for o in data.get("co_orgs") or []],
        "jurisdiction": data["jurisdiction"],
        "profile": data.get("profile") or data["jurisdiction"],
        "profile_version": data["profile_version"],
        "name": data["name"],
        "status": data["status"],
        "version": data.get("version"),
    }


def filing_row(event: Event) -> dict[str, Any]:
    data = event.data
    return {
        "id": _uuid(event.subject or data["id"]),
        "project_id": _uuid(data["project_id"]),
        "org": _uuid(data["org"]),
        "jurisdiction": data["jurisdiction"],
        "obligation_id": _uuid(data.get("obligation_id")),
        "event_date": _date(data["event_date"]),
        "filed_on": _date(data["filed_on"]),
        "version": data.get("version"),
    }


def calendar_row(event: Event) -> dict[str, Any]:
    data = event.data
    return {
        "year": int(data["year"]),
        "holidays": [_date(d) for d in data["holidays"]],
        "workdays": [_date(d) for d in data["workdays"]],
        "source": data["source"],
        "version": data.get("version"),
    }


project_projection = Projection(projects, row=project_row)
filing_projection = Projection(self_evaluation_filings, row=filing_row)
calendar_projection = Projection(calendar_years, key="year", row=calendar_row)


apply_project = project_projection.apply
apply_filing = filing_projection.apply
apply_calendar = calendar_projection.apply


async def apply_unit(session: AsyncSession, event: Event) -> None:
    if event.type != "govit.registry.unit.registered":
        return
    data = event.data
    values = {"id": _uuid(data["id"]), "name": data["name"], "jurisdiction": data["jurisdiction"]}
    await repository.upsert_unit(session, values)


async def suggest_rectification(session: AsyncSession, event: Event) -> None:
    """A missed acceptance obligation: one suggested ``acceptance_delayed`` order."""
    data = event.data
    if not domain.suggests_acceptance_delayed(data["type"], data["status"]):
        return
    project_id = _uuid(data["project_id"])
    assert project_id is not None
    project = await repository.project(session, project_id)
    if project is not None:
        profile = load_profile(project["profile"], project["profile_version"])
    else:  # approval's event may not be here yet: the jurisdiction's current rules
        profile = load_profile(data["jurisdiction"])
    today = event.time.date() if event.time is not None else date.today()
    order_id = new_id()
    values = {
        "id": order_id,
        "project_id": project_id,
        "org": _uuid(data["org"]),
        "co_orgs": list(project["co_orgs"]) if project is not None else [],
        "jurisdiction": data["jurisdiction"],
        "profile": profile.id,
        "profile_version": profile.version,
        "reason": "acceptance_delayed",
        "status": "suggested",
        "due_on": None,
        "ordered_on": None,
        "suggested_on": today,
        "rule": domain.reason_rule("acceptance_delayed", profile),
        "evidence": f"{data['type']} due {data['due_on']} missed ({data['rule']})",
        "obligation_id": _uuid(data["id"]),
        "version": 1,
        "created_at": event.time,
        "updated_at": event.time,
    }
    if await repository.insert_suggestion(session, values):
        system = Principal(
            sub=event.type, org=event.source, jurisdiction=data["jurisdiction"], roles=frozenset()
        )
        changes = {
            "status": {"before": None, "after": "suggested"},
            "obligation_id": {"before": None, "after": data["id"]},
        }
        assert event.time is not None
        await repository.record_revision(session, order_id, system, changes, event.time)


Handler = Callable[[AsyncSession, Event], Any]
# (durable, subject, handler): a durable name is ``evaluation-<what>``.
SUBSCRIPTIONS: tuple[tuple[str, str, Handler], ...] = (
    ("evaluation-projects", "govit.approval.project.*", apply_project),
    ("evaluation-units", "govit.registry.unit.*", apply_unit),
    ("evaluation-self-evaluations", "govit.filing.self_evaluation.filed", apply_filing),
    ("evaluation-deadlines", "govit.filing.deadline.missed", suggest_rectification),
    ("evaluation-calendar", "govit.filing.calendar.loaded", apply_calendar),
)


def consumers(app: FastAPI) -> Sequence[Consumer]:
    return [
        Consumer(
            app.state.db, events, app.state.bus, durable=durable, subject=subject, handler=handler
        )
        for durable, subject, handler in SUBSCRIPTIONS
    ]
