"""The projection of approval's projects, and the obligations an approval opens.

``govit.approval.project.*`` carries the project's full state and ``version``; a
newer state replaces the stored one (``shared.events.projection``). When the project
is approved (or further along), what it owes from approval on is opened once per
type and period: the acceptance application by ``planned_completion_on``, each budget
year's self-evaluation, leshan's yearly performance monitoring report.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from services.filing import domain, repository
from services.filing.models import Project, events
from shared.events import Event
from shared.events.consumer import Consumer
from shared.events.projection import Projection
from shared.policy import load_profile

SUBJECT = "govit.approval.project.*"


def _day(value: Any) -> date | None:
    return None if value is None else date.fromisoformat(value)


def project_row(event: Event) -> dict[str, Any]:
    d = event.data
    return {
        "id": uuid.UUID(event.subject or d["id"]),
        "org": uuid.UUID(d["org"]),
        "co_orgs": [uuid.UUID(o) for o in d.get("co_orgs") or []],
        "jurisdiction": d["jurisdiction"],
        "profile": d.get("profile") or d["jurisdiction"],
        "profile_version": d["profile_version"],
        "name": d["name"],
        "status": d["status"],
        "delivery": d.get("delivery"),
        "planned_completion_on": _day(d.get("planned_completion_on")),
        "approved_on": _day(d.get("approved_on")),
        "approved_annual_budgets": d.get("approved_annual_budgets") or [],
        "version": d.get("version"),
    }


projects = Projection(Project.__table__, row=project_row)  # type: ignore[arg-type]


async def apply_project(session: AsyncSession, event: Event) -> None:
    project_id = uuid.UUID(event.subject or event.data["id"])
    known = await repository.project(session, project_id)
    planned_before = None if known is None else known.planned_completion_on
    if not await projects.apply(session, event):
        return  # an older state, or one already applied
    project = await repository.project(session, project_id)
    assert project is not None
    await session.refresh(project)
    when = event.time or datetime.now(UTC)
    if project.status in ("rejected", "terminated"):
        await repository.stop_checks(session, project.id)
        return
    if project.status not in domain.FILABLE_STATUSES:
        return
    profile = load_profile(project.profile, project.profile_version)
    years = sorted({int(b["year"]) for b in project.approved_annual_budgets})
    plans = domain.approval_plans(profile, project.planned_completion_on, years)
    await repository.open_plans(session, project, plans, when)
    if known is not None and planned_before != project.planned_completion_on:
        # An approved change moved the planned completion: the acceptance application
        # follows it, unless an agreed delay has already set its own date.
        application = await repository.obligation(
            session, project.id, "acceptance_application", for_update=True
        )
        if (
            application is not None
            and application.status in domain.UNMET_STATUSES
            and application.due_on == planned_before
        ):
            due = project.planned_completion_on
            await repository.moved(session, application, due, application.rule, when)


def consumers(app: FastAPI) -> list[Consumer]:
    return [
        Consumer(
            app.state.db,
            events,
            app.state.bus,
            durable=app.state.settings.projects_durable,
            subject=SUBJECT,
            handler=apply_project,
        )
    ]
