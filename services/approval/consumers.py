"""Approval's event handlers: projections of the registry and evaluation, and the status
moves and unit sanctions that filing and evaluation events cause
(docs/event-payloads.md, "Who consumes what").

Each handler runs in the consumer's transaction, after the inbox has recorded the
event (a redelivery never runs it twice). An event that arrives late or out of
order never moves a project back: a move is applied only where the lifecycle
allows it, and rectification orders are kept as a projection (newest version
wins) from which the project's suspension is derived.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.approval import domain, repository
from services.approval.models import (
    Project,
    catalogued_systems,
    events,
    known_units,
    rectification_orders,
    unit_assessments,
)
from shared.clock import SHANGHAI, Clock
from shared.events import Event
from shared.events.consumer import Consumer
from shared.events.projection import Projection
from shared.policy import load_profile

systems = Projection(catalogued_systems)
assessments = Projection(unit_assessments)
orders = Projection(rectification_orders)


async def apply_unit(session: AsyncSession, event: Event) -> None:
    """``govit.registry.unit.*``: a unit never changes jurisdiction; its event carries no
    version, so the first one stored stays (a redelivery or a replay changes nothing)."""
    data = event.data
    await session.execute(
        pg_insert(known_units)
        .values(
            id=uuid.UUID(data["id"]),
            name=data["name"],
            jurisdiction=data["jurisdiction"],
            parent=uuid.UUID(data["parent"]) if data.get("parent") else None,
            version=1,
        )
        .on_conflict_do_nothing(index_elements=[known_units.c.id])
    )


class Moves:
    """The handlers that move projects, with the clock that stamps their history."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    async def filing(self, session: AsyncSession, event: Event) -> None:
        """``govit.filing.contract.filed`` → in_construction; ``.acceptance.recorded``
        passed → accepted (failed → leshan:32 sanction); ``.acceptance.filed`` passed →
        in_operation."""
        data = event.data
        passed = data.get("passed")
        project = await repository.project(session, uuid.UUID(data["project_id"]), for_update=True)
        if project is None:
            return  # a project approval does not know: nothing to move
        profile = load_profile(project.profile, project.profile_version)
        if event.type == "govit.filing.acceptance.recorded":
            await self._acceptance_sanction(session, project, event, passed=bool(passed))
        target = domain.target_of_filing(event.type, passed)
        if target is None:
            return
        if project.status == "suspended" and domain.move_while_suspended(
            project.suspended_from, target
        ):
            await repository.record(
                session,
                project.id,
                self.clock.now(),
                f"event:{event.type}",
                event.source,
                "resumes_to",
                {"suspended_from": {"before": project.suspended_from, "after": target}},
                cause=event.type,
                cause_id=event.id,
            )
            project.suspended_from = target
            await session.flush()
            return
        if not domain.move_from_event(project.status, target):
            return
        rule = None
        if event.type == "govit.filing.contract.filed" and profile.contract_filing:
            rule = profile.contract_filing.rule
        elif event.type != "govit.filing.contract.filed":
            rule = profile.acceptance_filing.rule
        await self._move(session, project, target, event, rule)

    async def _acceptance_sanction(
        self, session: AsyncSession, project: Project, event: Event, *, passed: bool
    ) -> None:
        if passed:  # a passed acceptance lifts the failed one's bar on new projects
            await repository.lift_sanctions(
                session, project_id=project.id, trigger="acceptance_failed"
            )
            return
        await self._impose(
            session, project, "acceptance_failed", uuid.UUID(event.data["id"]), event
        )

    async def rectification(self, session: AsyncSession, event: Event) -> None:
        """``govit.evaluation.rectification.*``: keep the order (newest version wins), then
        derive the project: suspended while any order is escalated, resumed when none
        is, terminated on a termination request; escalated ``data_not_shared`` and
        ``security_noncompliant`` orders bar the unit (leshan:33, leshan:51)."""
        await orders.apply(session, event)
        project = await repository.project(
            session, uuid.UUID(event.data["project_id"]), for_update=True
        )
        if project is None:
            return
        stored = await repository.orders_of(session, project.id)
        for order in stored:
            trigger = domain.SANCTION_OF_REASON.get(order["reason"])
            if trigger is None:
                continue
            if order["status"] in ("escalated", "termination_requested"):
                await self._impose(session, project, trigger, order["id"], event)
            else:
                await repository.lift_sanctions(session, ids=[order["id"]])
        escalated = [o for o in stored if o["status"] == "escalated"]
        ended = [o for o in stored if o["status"] == "termination_requested"]
        target = domain.rectification_target(
            project.status, project.suspended_from, bool(escalated), bool(ended)
        )
        if target is None:
            return
        cause_order = (ended or escalated or stored)[0]
        await self._move(session, project, target, event, cause_order["rule"], order=cause_order)

    async def _impose(
        self,
        session: AsyncSession,
        project: Project,
        trigger: str,
        record_id: uuid.UUID,
        event: Event,
    ) -> None:
        profile = load_profile(project.profile, project.profile_version)
        now = self.clock.now()
        years = domain.sanction_years(profile, trigger, now.astimezone(SHANGHAI).year)
        sanction = profile.sanction(trigger)  # type: ignore[arg-type]
        if years is None or sanction is None:
            return  # the profile has no such sanction
        await repository.impose_sanction(
            session,
            {
                "id": record_id,
                "org": project.org_id,
                "jurisdiction": project.jurisdiction,
                "project_id": project.id,
                "trigger": trigger,
                "rule": sanction.rule,
                "from_year": years[0],
                "until_year": years[1],
                "active": True,
                "cause": event.type,
                "imposed_at": now,
            },
        )

    async def _move(
        self,
        session: AsyncSession,
        project: Project,
        target: str,
        event: Event,
        rule: str | None,
        order: Any = None,
    ) -> None:
        before = project.status
        if target == "suspended":
            project.suspended_from = before
        elif before == "suspended":
            project.suspended_from = None
        project.status = target
        now = self.clock.now()
        if target == "terminated":
            event_type = "govit.approval.project.terminated"
            reason = (
                f"rectification order {order['id']} ({order['reason']})" if order else event.type
            )
            extra: dict[str, Any] = {"reason": reason, "rule": rule}
        else:
            event_type = "govit.approval.project.status_changed"
            extra = {"from": before, "to": target, "rule": rule, "cause": event.type}
        await repository.saved(
            session,
            project,
            now,
            actor=f"event:{event.type}",
            actor_org=event.source,
            action=target,
            changes={"status": {"before": before, "after": target}},
            event_type=event_type,
            extra=extra,
            rule=rule,
            cause=event.type,
            cause_id=event.id,
        )


def consumers(app: FastAPI) -> Sequence[Consumer]:
    db, bus = app.state.db, app.state.bus
    moves = Moves(app.state.clock)

    def consumer(durable: str, subject: str, handler: Any) -> Consumer:
        return Consumer(db, events, bus, durable=durable, subject=subject, handler=handler)

    return [
        consumer("approval-units", "govit.registry.unit.*", apply_unit),
        consumer("approval-systems", "govit.registry.system.*", systems.apply),
        consumer("approval-contracts", "govit.filing.contract.filed", moves.filing),
        consumer("approval-acceptances", "govit.filing.acceptance.*", moves.filing),
        consumer(
            "approval-rectifications", "govit.evaluation.rectification.*", moves.rectification
        ),
        consumer(
            "approval-assessments", "govit.evaluation.assessment.published", assessments.apply
        ),
    ]
