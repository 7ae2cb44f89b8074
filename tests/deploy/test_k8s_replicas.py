"""Two replicas of every service at once, as deploy/k8s runs them (two to ten pods each),
on one database per service and one NATS: every event is published once and handled
once per consumer, whichever replica wrote it or pulled it.

Each service runs twice in this process, each replica with its own engine, NATS
connection, outbox relay and consumers (create_app's lifespan, as in a pod). A private
NATS server keeps the durable consumers to this test. Units and systems are
registered alternately through both registry replicas; their events reach the
approval, evaluation and funding consumers of both replicas. Deadline events from two
replicas of filing's scheduler: tests/filing/test_scheduler.py.
"""

from __future__ import annotations

import importlib
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from deploy.local.stack import Nats, free_port
from shared.events.bus import STREAM, Bus
from shared.events.consumer import Consumer
from tests.registry.conftest import system_body
from tests.support.checks import wait_until
from tests.support.databases import Databases
from tests.support.fixtures import Stack, TokenFactory, auth, service_settings

SERVICES = ("registry", "approval", "filing", "funding", "evaluation")
UNITS = 12
SYSTEMS_PER_UNIT = 2


def matches(pattern: str, subject: str) -> bool:
    """NATS subject matching: ``*`` one token, ``>`` the rest."""
    want, got = pattern.split("."), subject.split(".")
    for i, token in enumerate(want):
        if token == ">":
            return len(got) > i
        if i >= len(got) or (token != "*" and token != got[i]):
            return False
    return len(want) == len(got)


@dataclass
class Replicas:
    apps: dict[str, list[FastAPI]]
    # (durable, event id) -> the replica indexes whose handler completed it
    handled: dict[tuple[str, str], list[int]] = field(default_factory=dict)

    def consumers(self, service: str) -> dict[str, str]:
        """durable -> subject, for the service's consumers."""
        workers = self.apps[service][0].state.workers.workers.values()
        return {w.durable: w.subject for w in workers if isinstance(w, Consumer)}


def recording(
    replicas: Replicas, index: int, consumer: Consumer
) -> Callable[[Any, Any], Awaitable[None]]:
    handler = consumer.handler

    async def handle(session: Any, event: Any) -> None:
        await handler(session, event)
        replicas.handled.setdefault((consumer.durable, event.id), []).append(index)

    return handle


@pytest.fixture
async def private_nats(stack: Stack) -> AsyncIterator[Stack]:
    nats = Nats(stack.root / f"nats-replicas-{uuid.uuid4().hex[:6]}", free_port(), free_port())
    nats.start(stack.root / "nats-replicas.log")
    try:
        yield Stack(server_url=stack.server_url, nats_url=nats.url, root=stack.root)
    finally:
        nats.stop()


@pytest.fixture
async def replicas(
    private_nats: Stack, databases: Databases, dev_keys: object
) -> AsyncIterator[Replicas]:
    found = Replicas(apps={})
    async with AsyncExitStack() as started:
        for service in SERVICES:
            module = importlib.import_module(f"services.{service}.app")
            settings_class = next(
                v for k, v in vars(module).items() if k.lower() == f"{service}settings"
            )
            url = await databases.migrated(service)
            found.apps[service] = []
            for index in range(2):
                settings = service_settings(
                    settings_class, private_nats, url, outbox_poll_seconds=0.1
                )
                app = module.build_app(settings)
                await started.enter_async_context(app.router.lifespan_context(app))
                for worker in app.state.workers.workers.values():
                    if isinstance(worker, Consumer):
                        worker.handler = recording(found, index, worker)
                found.apps[service].append(app)
        yield found


async def outbox(app: FastAPI) -> list[Any]:
    table = app.state.tables.outbox
    async with app.state.db.transaction() as session:
        return list((await session.execute(select(table))).all())


async def count(app: FastAPI, table_name: str, **where: str) -> int:
    table = getattr(app.state.tables, table_name)
    query = select(func.count()).select_from(table)
    for column, value in where.items():
        query = query.where(table.c[column] == value)
    async with app.state.db.transaction() as session:
        return int((await session.execute(query)).scalar_one())


async def test_two_replicas_of_each_service_publish_and_handle_each_event_once(
    replicas: Replicas, token: TokenFactory
) -> None:
    registry = replicas.apps["registry"]
    clients = [
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")
        for app in registry
    ]
    admin = auth(token(roles=["admin"], jurisdiction="jincheng"))
    try:
        for i in range(UNITS):  # writes alternate between the two registry replicas
            client = clients[i % 2]
            unit = await client.post(
                "/api/v1/units",
                json={"name": f"晋城市第{i}信息中心", "jurisdiction": "jincheng"},
                headers=admin,
            )
            assert unit.status_code == 201, unit.text
            org = uuid.UUID(unit.json()["id"])
            unit_token = auth(token(roles=["unit"], org=org, jurisdiction="jincheng"))
            for n in range(SYSTEMS_PER_UNIT):
                system = await clients[(i + n) % 2].post(
                    "/api/v1/systems",
                    json=system_body(org, name=f"业务系统{i}-{n}"),
                    headers=unit_token,
                )
                assert system.status_code == 201, system.text
    finally:
        for client in clients:
            await client.aclose()

    # One outbox (one database) behind both replicas; every row leaves exactly once.
    rows = await outbox(registry[0])
    assert len(rows) >= UNITS * (1 + SYSTEMS_PER_UNIT)

    async def all_sent() -> bool:
        return all(r.sent_at is not None for r in await outbox(registry[0]))

    await wait_until(all_sent, 30, "every registry event published")
    relays = sorted(app.state.workers.workers["outbox-relay"].health.state for app in registry)
    assert relays == ["running", "standby"]  # one active relay per database

    bus = await Bus.connect(replicas_nats_url(registry[0]), name="replica-test-reader")
    try:
        info = await bus.js.stream_info(STREAM)
        assert info.state.messages == len(rows)  # each row in the stream once
    finally:
        await bus.close()

    # Every consumer of every service that follows these subjects handles each event
    # once, in one of its two replicas.
    expected: dict[str, tuple[str, set[str]]] = {}
    for service in SERVICES[1:]:
        for durable, subject in replicas.consumers(service).items():
            ids = {r.envelope["id"] for r in rows if matches(subject, r.type)}
            if ids:
                expected[durable] = (service, ids)
    assert {"approval-units", "approval-systems", "evaluation-units", "funding-systems"} <= set(
        expected
    )

    async def all_handled() -> bool:
        return all(
            (durable, event_id) in replicas.handled
            for durable, (_, ids) in expected.items()
            for event_id in ids
        )

    await wait_until(all_handled, 60, "every event handled by every consumer")
    for durable, (service, ids) in expected.items():
        mine = {k: v for k, v in replicas.handled.items() if k[0] == durable}
        assert set(k[1] for k in mine) == ids, durable
        assert all(len(v) == 1 for v in mine.values()), (durable, Counter(map(len, mine.values())))
        app = replicas.apps[service][0]
        assert await count(app, "inbox", consumer=durable) == len(ids), durable
        assert await count(app, "dead_letters", consumer=durable) == 0, durable
    # Both replicas of each service keep pulling (a pod is never idle by design): the
    # consumers of both report running.
    for service in SERVICES[1:]:
        for app in replicas.apps[service]:
            states = {
                w.durable: w.health.state
                for w in app.state.workers.workers.values()
                if isinstance(w, Consumer)
            }
            assert set(states.values()) <= {"running"}, (service, states)
    by_replica = Counter(index for indexes in replicas.handled.values() for index in indexes)
    print(f"handled by replica: {dict(by_replica)}; consumers checked: {sorted(expected)}")


def replicas_nats_url(app: FastAPI) -> str:
    return str(app.state.settings.nats_url)
