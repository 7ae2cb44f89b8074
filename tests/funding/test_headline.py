"""THE headline flow, on the real PostgreSQL and NATS with the real relay and consumers:
``govit.filing.acceptance.filed`` (passed) unblocks operations funding, with no restart
and no poll beyond waiting for the gate's event."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import create_async_engine

from services.funding.app import build_app
from shared.clock import FixedClock
from shared.db.session import Database
from shared.events import event_tables
from shared.events.bus import Bus
from shared.events.envelope import Event
from shared.events.outbox import emit_many
from shared.events.relay import OutboxRelay
from shared.events.tables import EventTables
from tests.funding.conftest import (
    NOW,
    Project,
    allocate,
    cast,
    disbursement,
    funding_settings,
    key,
    new_project,
)
from tests.support.checks import problem
from tests.support.databases import Databases
from tests.support.fixtures import Stack, TokenFactory


@dataclass
class Upstream:
    """A stand-in for the producing services' databases: an outbox and its real relay."""

    db: Database
    tables: EventTables

    async def commit(self, *events: Event) -> None:
        async with self.db.transaction() as session:
            await emit_many(session, self.tables.outbox, events)


@asynccontextmanager
async def upstream(stack: Stack, databases: Databases) -> AsyncIterator[Upstream]:
    url = await databases.create()
    metadata = MetaData()
    tables = event_tables(metadata)
    engine = create_async_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    await engine.dispose()
    db = Database(url)
    bus = await Bus.connect(stack.nats_url, name="upstream")
    relay = OutboxRelay(db, tables.outbox, bus, poll_seconds=0.5)
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    try:
        yield Upstream(db, tables)
    finally:
        stop.set()
        await task
        await bus.close()
        await db.dispose()


@asynccontextmanager
async def funding(
    stack: Stack, databases: Databases, **overrides: Any
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    url = await databases.migrated("funding")
    prefix = f"funding-{uuid.uuid4().hex[:10]}"  # its own durable consumers
    app = build_app(
        funding_settings(stack, url, consumer_prefix=prefix, outbox_poll_seconds=0.5, **overrides)
    )
    async with app.router.lifespan_context(app):
        app.state.clock = FixedClock(NOW)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://funding") as client:
            yield app, client


class Gates:
    """The gate events funding publishes, as NATS delivers them (a plain subscription)."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def handler(self, msg: Any) -> None:
        await self.queue.put(json.loads(msg.data))

    async def next(
        self, project: Project, category: str, verb: str, seconds: float = 30
    ) -> dict[str, Any]:
        """Wait for ``govit.funding.gate.<verb>`` of the project's ``category``."""

        async def matching() -> dict[str, Any]:
            while True:
                envelope = await self.queue.get()
                data = envelope["data"]
                if (
                    envelope["type"] == f"govit.funding.gate.{verb}"
                    and data["project_id"] == str(project.id)
                    and data["category"] == category
                ):
                    return envelope

        return await asyncio.wait_for(matching(), seconds)


async def test_acceptance_filed_opens_operations_funding(
    stack: Stack, databases: Databases, token: TokenFactory, dev_keys: object
) -> None:
    p = new_project("jincheng")
    finance = cast(token, p).finance
    gates = Gates()
    watcher = await Bus.connect(stack.nats_url, name="headline-watcher")
    sub = await watcher.nc.subscribe("govit.funding.gate.*", cb=gates.handler)
    try:
        async with (
            upstream(stack, databases) as producers,
            funding(stack, databases) as (_app, client),
        ):
            # Upstream, in order: system catalogued, project approved, contract filed.
            await producers.commit(p.system(), p.approved(), p.filing("contract"))
            opened = await gates.next(p, "construction", "opened")
            assert opened["data"]["open"] is True

            # jincheng:11: the plan was published on 1 June and is effective after its notice.
            plan = await allocate(client, finance, p, "80000.00", published_on="2026-06-01")
            assert plan["status"] == "effective"

            body = disbursement(p, "20000.00")
            refused = await client.post("/api/v1/disbursements", json=body, headers=finance | key())
            violations = problem(refused, 409, "disbursement_refused")["violations"]
            assert [v["rule"] for v in violations] == ["jincheng:21"]

            # The headline event: the acceptance report is filed, passed.
            await producers.commit(p.filing("acceptance", passed=True))
            event = await gates.next(p, "operations", "opened")
            assert event["data"]["violations"] == [] and event["data"]["version"] == 1

            made = await client.post("/api/v1/disbursements", json=body, headers=finance | key())
            assert made.status_code == 201, made.text
            assert made.json()["disbursed_total"] == "20000.00"
            view = (await client.get(f"/api/v1/funding/projects/{p.id}", headers=finance)).json()
            assert view["gates"]["operations"] == {"open": True, "violations": []}
            assert (
                view["facts"]["acceptance_filed"]["event"]["type"]
                == "govit.filing.acceptance.filed"
            )
    finally:
        await sub.unsubscribe()
        await watcher.close()
