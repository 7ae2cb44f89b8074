"""Event handlers: the projection of other services' events, then the gates again.

Each handler upserts its subject's row only when the event's version is newer than
the stored one (``shared.events.projection.Projection``), remembering the event that
set it; when the row changed, the gates of every project it touches are decided
again, and a gate that flips is published (``service.refresh_gates``). The consumer
runs the handler inside the inbox's transaction: once per event, all or nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping
from datetime import date, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.funding import repository, service
from services.funding.models import calendar_years, projects, records, systems
from shared.events.envelope import Event
from shared.events.projection import Projection

Handler = Callable[[AsyncSession, Event], Awaitable[None]]
Now = Callable[[], tuple[datetime, date]]


def _setter(event: Event) -> dict[str, Any]:
    return {"event_type": event.type, "event_id": event.id, "event_time": event.time}


def _uuid(value: Any) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def project_row(event: Event) -> Mapping[str, Any]:
    d = event.data
    return {
        "id": _uuid(d["id"]),
        "org": _uuid(d["org"]),
        "co_orgs": [_uuid(o) for o in d.get("co_orgs") or []],
        "jurisdiction": d["jurisdiction"],
        "profile": d["profile"],
        "profile_version": d["profile_version"],
        "name": d["name"],
        "status": d["status"],
        "approved_total": d.get("approved_total"),
        "approved_annual_budgets": d.get("approved_annual_budgets") or [],
        "system_ids": [_uuid(s) for s in d.get("system_ids") or []],
        "version": d.get("version"),
        **_setter(event),
    }


def system_row(event: Event) -> Mapping[str, Any]:
    d = event.data
    facts = d["facts"]
    return {
        "id": _uuid(d["id"]),
        "org": _uuid(d["org"]),
        "jurisdiction": d["jurisdiction"],
        "catalogued": bool(facts["catalogued"]),
        "data_shared": bool(facts["data_shared"]),
        "on_cloud": bool(facts["on_cloud"]),
        "secure": bool(facts["secure"]),
        "version": d.get("version"),
        **_setter(event),
    }


def record_row(event: Event) -> Mapping[str, Any]:
    """A filing, an acceptance result, a rectification order or an evaluation."""
    d = event.data
    if event.type == "govit.filing.acceptance.recorded":
        kind, type_, passed, rule = "acceptance", "recorded", d["passed"], None
    elif event.type.startswith("govit.filing."):
        kind, type_, passed, rule = "filing", d["type"], d.get("passed"), None
    elif event.type.startswith("govit.evaluation.rectification."):
        kind, type_, passed, rule = "rectification", d["status"], None, d.get("rule")
    else:  # govit.evaluation.evaluation.completed
        kind, type_, passed, rule = "evaluation", d["kind"], not d.get("failing", False), None
    return {
        "id": _uuid(d["id"]),
        "kind": kind,
        "project_id": _uuid(d["project_id"]),
        "type": type_,
        "passed": passed,
        "rule": rule,
        "version": d.get("version"),
        **_setter(event),
    }


def calendar_row(event: Event) -> Mapping[str, Any]:
    d = event.data
    return {
        "year": int(d["year"]),
        "holidays": [date.fromisoformat(x) for x in d["holidays"]],
        "workdays": [date.fromisoformat(x) for x in d["workdays"]],
        "source": d.get("source") or "",
        "version": d.get("version"),
        **_setter(event),
    }


PROJECTS = Projection(projects, row=project_row)
SYSTEMS = Projection(systems, row=system_row)
RECORDS = Projection(records, row=record_row)
CALENDAR = Projection(calendar_years, key="year", row=calendar_row)

# (durable suffix, subject, handler kind) for every stream funding follows
# (docs/event-payloads.md, "Who consumes what").
SUBSCRIPTIONS: tuple[tuple[str, str], ...] = (
    ("projects", "govit.approval.project.*"),
    ("systems", "govit.registry.system.*"),
    ("filings", "govit.filing.*.filed"),
    ("acceptances", "govit.filing.acceptance.recorded"),
    ("calendar", "govit.filing.calendar.loaded"),
    ("rectifications", "govit.evaluation.rectification.*"),
    ("evaluations", "govit.evaluation.evaluation.completed"),
)


def handler(what: str, now: Now) -> Handler:
    """The handler for one subscription; ``now`` reads the clock once per event."""

    async def projects_(session: AsyncSession, event: Event) -> None:
        if await PROJECTS.apply(session, event):
            await _refresh(session, [_uuid(event.data["id"])], now)

    async def systems_(session: AsyncSession, event: Event) -> None:
        if await SYSTEMS.apply(session, event):
            touched = await repository.projects_with_system(session, _uuid(event.data["id"]))
            await _refresh(session, touched, now)

    async def records_(session: AsyncSession, event: Event) -> None:
        if event.data.get("project_id") is None:
            return  # a unit's annual evaluation: no project's money depends on it
        if await RECORDS.apply(session, event):
            await _refresh(session, [_uuid(event.data["project_id"])], now)

    async def calendar_(session: AsyncSession, event: Event) -> None:
        await CALENDAR.apply(session, event)

    return {
        "projects": projects_,
        "systems": systems_,
        "calendar": calendar_,
    }.get(what, records_)


async def _refresh(session: AsyncSession, project_ids: list[uuid.UUID], now: Now) -> None:
    at, today = now()
    await service.refresh_gates(session, project_ids, at, today)
