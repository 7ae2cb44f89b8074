"""The missed-deadline scheduler: exactly once per obligation with two replicas on one
database and NATS, and the shared clock's offset walking a demo past a deadline."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import date, timedelta
from typing import Any

from fastapi import FastAPI
from sqlalchemy import select

from services.filing.app import build_app
from services.filing.models import Obligation, events
from shared.clock import SystemClock
from tests.filing.conftest import at, filing_settings, project_data, publish_project
from tests.support.checks import wait_until
from tests.support.databases import Databases
from tests.support.fixtures import Stack

MISSED = "govit.filing.deadline.missed"


@asynccontextmanager
async def replicas(url: str, stack: Stack, n: int, **settings: Any) -> AsyncIterator[list[FastAPI]]:
    async with AsyncExitStack() as stack_:
        apps = []
        for _ in range(n):
            options = {"deadline_check_seconds": 0.05, **settings}
            app = build_app(filing_settings(stack, url, **options))
            await stack_.enter_async_context(app.router.lifespan_context(app))
            apps.append(app)
        yield apps


async def _missed_events(app: FastAPI) -> list[dict[str, Any]]:
    async with app.state.db.transaction() as session:
        rows = (await session.execute(select(events.outbox.c.envelope))).scalars().all()
    return [e for e in rows if e["type"] == MISSED]


async def _statuses(app: FastAPI) -> Counter[str]:
    async with app.state.db.transaction() as session:
        return Counter((await session.execute(select(Obligation.status))).scalars().all())


async def test_two_replicas_report_each_missed_deadline_exactly_once(
    stack: Stack, databases: Databases, dev_keys: object
) -> None:
    url = await databases.migrated("filing")
    clock = at(date(2026, 6, 1))
    # Both replicas run their scheduler; it checks once at start (nothing is due yet),
    # then the test makes both check at the same moment, on the same rows.
    async with replicas(url, stack, 2, deadline_check_seconds=3600) as apps:
        for app in apps:
            app.state.clock = clock  # one shared clock: both replicas see the same today
        projects = 150
        for i in range(projects):
            due = date(2026, 7, 1) + timedelta(days=i % 5)
            data = project_data(
                uuid.uuid4(),
                "jincheng",
                planned_completion_on=due.isoformat(),
                approved_annual_budgets=[],
            )
            await publish_project(apps[i % 2], data)
        assert await _statuses(apps[0]) == Counter({"open": projects})
        clock.set(at(date(2026, 7, 10)).now())  # every deadline has just passed
        schedulers = [app.state.workers.workers["filing-deadlines"] for app in apps]
        counts = await asyncio.gather(*(s.tick() for s in schedulers for _ in range(2)))
        assert sum(counts) == projects
        assert await _statuses(apps[0]) == Counter({"missed": projects})
        missed = await _missed_events(apps[0])
        per_obligation = Counter(e["subject"] for e in missed)
        assert len(per_obligation) == projects
        assert set(per_obligation.values()) == {1}
        assert {e["data"]["status"] for e in missed} == {"missed"}
        assert {e["data"]["rule"] for e in missed} == {"filing:planned-completion"}
        # Later passes find nothing more to report.
        assert await schedulers[1].tick() == 0


async def test_the_clock_offset_walks_a_demo_past_a_deadline(
    stack: Stack, databases: Databases, dev_keys: object
) -> None:
    url = await databases.migrated("filing")
    today = SystemClock().today()
    async with replicas(url, stack, 1, clock_offset_days=30) as [app]:
        assert app.state.clock.today() == today + timedelta(days=30)
        data = project_data(
            uuid.uuid4(),
            "xiangfen",
            planned_completion_on=(today + timedelta(days=10)).isoformat(),
            approved_annual_budgets=[],
        )
        await publish_project(app, data)

        async def reported() -> bool:
            return len(await _missed_events(app)) == 1

        await wait_until(reported, what="the deadline reported missed")
        [event] = await _missed_events(app)
        assert event["data"]["project_id"] == data["id"]
        assert event["data"]["due_on"] == (today + timedelta(days=10)).isoformat()
