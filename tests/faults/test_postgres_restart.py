"""PostgreSQL restarted under a running service: its relay and consumer carry on.

The test runs its own PostgreSQL (the session's is never stopped) and the session's
NATS, and the app from ``create_app`` as every service has it: relay, consumer,
supervisor and ``/readyz``.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
import httpx
from sqlalchemy import Column, Integer, Table, Text

from deploy.local.stack import Postgres, free_port, with_database
from shared.app import create_app
from shared.db import new_metadata
from shared.db.session import Database, asyncpg_dsn
from shared.events import emit, event_tables
from shared.events.consumer import Consumer
from shared.settings import GovitSettings
from tests.shared.test_events_delivery import EVENT_TYPE, Kit, publish, unit_event, wait_until
from tests.support.fixtures import Stack, service_settings


async def _kit(server_url: str) -> Kit:
    admin = await asyncpg.connect(asyncpg_dsn(with_database(server_url, "postgres")))
    try:
        await admin.execute('CREATE DATABASE "faults"')
    finally:
        await admin.close()
    metadata = new_metadata()
    tables = event_tables(metadata)
    effects = Table(
        "effects", metadata, Column("n", Integer, primary_key=True), Column("event_id", Text)
    )
    db = Database(with_database(server_url, "faults"), pool_size=2)
    async with db.engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    return Kit(db, tables, effects)


async def test_relay_and_consumer_survive_a_postgresql_restart(
    stack: Stack, tmp_path: Path, dev_keys: object
) -> None:
    pg = Postgres(tmp_path / "pg", free_port(), fast=True)
    await asyncio.to_thread(pg.start, tmp_path / "postgres.log")
    try:
        kit = await _kit(pg.admin_url)
        durable = f"faults-{uuid.uuid4().hex[:8]}"

        def consumers(app: object) -> list[Consumer]:
            state = app.state  # type: ignore[attr-defined]
            return [
                Consumer(
                    state.db,
                    kit.tables,
                    state.bus,
                    durable=durable,
                    subject=EVENT_TYPE,
                    handler=kit.record_effect,
                    max_deliveries=2,  # the outage outlasts every allowed delivery
                    retry_delay_seconds=0.2,
                    ack_wait_seconds=3,
                )
            ]

        settings = service_settings(
            GovitSettings,
            stack,
            kit.db.url,
            service_name="faults",
            outbox_poll_seconds=0.2,
            startup_wait_seconds=10,
        )
        app = create_app(
            settings=settings, title="faults", routers=[], tables=kit.tables, consumers=consumers
        )
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
                before = unit_event("长治市政务服务中心")
                async with kit.db.transaction() as session:
                    await emit(session, kit.tables.outbox, before)
                await wait_until(lambda: _has_effect(kit, before.id))
                assert (await client.get("/readyz")).status_code == 200

                await asyncio.to_thread(pg.stop)
                # Delivered while the database is down, again and again past max_deliveries.
                during = unit_event("潞州区人民政府")
                await publish(app.state.bus, during)
                await wait_until(_readyz(client, durable, "failing"), seconds=30)
                await wait_until(_readyz(client, "outbox-relay", "failing"), seconds=30)
                ready = await client.get("/readyz")
                assert ready.status_code == 503
                assert ready.json()["checks"]["database"].startswith("unavailable")
                assert f"worker {durable} is failing" in ready.json()["detail"]

                await asyncio.to_thread(pg.start, tmp_path / "postgres.log")
                await wait_until(_ready(client), seconds=30)
                await kit.db.engine.dispose()  # the test's own pool: drop pre-restart connections
                after = unit_event("上党区人民政府")
                async with kit.db.transaction() as session:
                    await emit(session, kit.tables.outbox, after)
                await wait_until(lambda: _has_effect(kit, during.id), seconds=30)
                await wait_until(lambda: _has_effect(kit, after.id), seconds=30)

                assert await kit.count(kit.effects, kit.effects.c.event_id == during.id) == 1
                dead = kit.tables.dead_letters
                # An outage is no poison (the stream may hold other tests' malformed ones).
                assert await kit.count(dead, dead.c.event_id.in_([during.id, after.id])) == 0
                body = (await client.get("/readyz")).json()
                assert body["workers"] == {"outbox-relay": "running", durable: "running"}
        await kit.db.dispose()
    finally:
        await asyncio.to_thread(pg.stop)


async def _has_effect(kit: Kit, event_id: str) -> bool:
    return await kit.count(kit.effects, kit.effects.c.event_id == event_id) > 0


def _readyz(client: httpx.AsyncClient, worker: str, state: str) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        body = (await client.get("/readyz")).json()
        return str(body.get("workers", {}).get(worker, "")).startswith(state)

    return check


def _ready(client: httpx.AsyncClient) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return (await client.get("/readyz")).status_code == 200

    return check
