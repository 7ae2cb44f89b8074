"""Two replicas of every service at once, as deploy/k8s runs them (two to ten pods each),
on one database per service and one NATS: every event is published once and handled
once per consumer, whichever replica wrote it or pulled it, and each missed deadline
is reported once although both replicas' schedulers look for it.

Each service runs twice in this process, each replica with its own engine, NATS
connection, outbox relay, consumers and scheduler (create_app's lifespan, as in a
pod). A private NATS server keeps the durable consumers to these tests.
"""

from __future__ import annotations

import importlib
import json
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from deploy.local.stack import Nats, free_port
from services.filing.models import Obligation
from shared.clock import SHANGHAI, FixedClock
from shared.events import Event
from shared.events.bus import STREAM, Bus
from shared.events.consumer import Consumer
from shared.ids import new_id
from tests.filing.conftest import project_data
from tests.registry.conftest import system_body
from tests.support.checks import wait_until
from tests.support.databases import Databases
from tests.support.fixtures import Stack, TokenFactory, auth, service_settings

SERVICES = ("registry", "approval", "filing", "funding", "evaluation")
UNITS = 12
SYSTEMS_PER_UNIT = 2
PROJECTS = 12
MISSED = "govit.filing.deadline.missed"
# Each replica's scheduler looks for passed deadlines this often: they race all along.
OVERRIDES: dict[str, dict[str, Any]] = {"filing": {"deadline_check_seconds": 0.2}}


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
    nats_url: str
    # (durable, event id) -> the replica indexes whose handler completed it
    handled: dict[tuple[str, str], list[int]] = field(default_factory=dict)

    def consumers(self, service: str) -> dict[str, str]:
        """durable -> subject, for the service's consumers."""
        workers = self.apps[service][0].state.workers.workers.values()
        return {w.durable: w.subject for w in workers if isinstance(w, Consumer)}

    def expected(self, events: Iterable[tuple[str, str]]) -> dict[str, tuple[str, set[str]]]:
        """durable -> (its service, the ids among ``events`` (id, type) it subscribes to)."""
        events = list(events)
        found = {}
        for service in SERVICES:
            for durable, subject in self.consumers(service).items():
                ids = {event_id for event_id, type_ in events if matches(subject, type_)}
                if ids:
                    found[durable] = (service, ids)
        return found

    async def handled_once(self, expected: dict[str, tuple[str, set[str]]]) -> None:
        """Each consumer ran its handler once for each of its events, in one replica."""

        async def all_handled() -> bool:
            return all(
                (durable, event_id) in self.handled
                for durable, (_, ids) in expected.items()
                for event_id in ids
            )

        await wait_until(all_handled, 60, "every event handled by every consumer")
        for durable, (service, ids) in expected.items():
            runs = {k[1]: v for k, v in self.handled.items() if k[0] == durable and k[1] in ids}
            assert set(runs) == ids, durable
            assert all(len(v) == 1 for v in runs.values()), (durable, runs)
            app = self.apps[service][0]
            assert await count(app, "inbox", consumer=durable) >= len(ids), durable
            assert await count(app, "dead_letters", consumer=durable) == 0, durable


def recording(
    replicas: Replicas, index: int, consumer: Consumer
) -> Callable[[Any, Any], Awaitable[None]]:
    handler = consumer.handler

    async def handle(session: Any, event: Any) -> None:
        await handler(session, event)
        replicas.handled.setdefault((consumer.durable, event.id), []).append(index)

    return handle


@pytest.fixture(scope="module")
async def replicas(stack: Stack, databases: Databases, dev_keys: object) -> AsyncIterator[Replicas]:
    nats = Nats(stack.root / f"nats-replicas-{uuid.uuid4().hex[:6]}", free_port(), free_port())
    nats.start(stack.root / "nats-replicas.log")
    private = Stack(server_url=stack.server_url, nats_url=nats.url, root=stack.root)
    found = Replicas(apps={}, nats_url=nats.url)
    try:
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
                        settings_class,
                        private,
                        url,
                        outbox_poll_seconds=0.1,
                        **OVERRIDES.get(service, {}),
                    )
                    app = module.build_app(settings)
                    await started.enter_async_context(app.router.lifespan_context(app))
                    for worker in app.state.workers.workers.values():
                        if isinstance(worker, Consumer):
                            worker.handler = recording(found, index, worker)
                    found.apps[service].append(app)
            yield found
    finally:
        nats.stop()


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


async def all_published(replicas: Replicas, service: str) -> None:
    """Every outbox row of the service sent, by the one relay of its two that is active."""
    apps = replicas.apps[service]

    async def sent() -> bool:
        return all(r.sent_at is not None for r in await outbox(apps[0]))

    await wait_until(sent, 30, f"every {service} outbox row published")
    relays = sorted(app.state.workers.workers["outbox-relay"].health.state for app in apps)
    assert relays == ["running", "standby"]  # one active relay per database


async def in_stream(nats_url: str, subject: str) -> int:
    bus = await Bus.connect(nats_url, name="replica-test-reader")
    try:
        info = await bus.js.stream_info(STREAM, subjects_filter=subject)
        return sum((info.state.subjects or {}).values())
    finally:
        await bus.close()


async def test_registry_events_written_by_both_replicas_are_handled_once_each(
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
            unit = await clients[i % 2].post(
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
    await all_published(replicas, "registry")
    assert await in_stream(replicas.nats_url, "govit.registry.>") == len(rows)

    expected = replicas.expected((r.envelope["id"], r.type) for r in rows)
    assert {"approval-units", "approval-systems", "evaluation-units", "funding-systems"} <= set(
        expected
    )
    await replicas.handled_once(expected)
    # Both replicas of each service keep pulling: the consumers of both report running.
    for service in SERVICES[1:]:
        for app in replicas.apps[service]:
            states = {
                w.durable: w.health.state
                for w in app.state.workers.workers.values()
                if isinstance(w, Consumer)
            }
            assert set(states.values()) <= {"running"}, (service, states)


async def test_each_missed_deadline_is_reported_once_by_two_schedulers_and_handled_once(
    replicas: Replicas,
) -> None:
    filing = replicas.apps["filing"]
    clock = FixedClock(datetime(2030, 1, 2, 10, tzinfo=SHANGHAI))  # every deadline has passed
    for app in filing:
        app.state.clock = clock  # one shared clock: both replicas see the same today

    # Approved projects on the bus, as approval's relay would publish them.
    bus = await Bus.connect(replicas.nats_url, name="replica-test-approval")
    published = []
    try:
        for i in range(PROJECTS):
            data = project_data(uuid.uuid4(), "jincheng", number=f"jincheng-2026-{i:04d}")
            event = Event(
                id=str(new_id()),
                type="govit.approval.project.approved",
                source="/govit/approval",
                subject=data["id"],
                time=datetime.now(UTC),
                data=data,
                request_id=None,
            )
            await bus.js.publish(
                event.type,
                json.dumps(event.envelope(), ensure_ascii=False).encode(),
                headers={"Nats-Msg-Id": event.id},
            )
            published.append((event.id, event.type))
    finally:
        await bus.close()
    projects = replicas.expected(published)
    assert {"filing-projects", "evaluation-projects", "funding-projects"} <= set(projects)
    await replicas.handled_once(projects)

    # Both schedulers run every 0.2 s; a third pass from here races them too, until one
    # finds nothing left to report.
    scheduler = filing[0].state.workers.workers["filing-deadlines"]

    async def nothing_left() -> bool:
        return await scheduler.tick() == 0

    await wait_until(nothing_left, 30, "every passed deadline reported")
    async with filing[0].state.db.transaction() as session:
        statuses = Counter((await session.execute(select(Obligation.status))).scalars().all())
        missed_ids = set(
            (
                await session.execute(select(Obligation.id).where(Obligation.status == "missed"))
            ).scalars()
        )
    assert len(missed_ids) >= PROJECTS, f"too few obligations were due: {statuses}"

    rows = await outbox(filing[0])
    missed = [r for r in rows if r.type == MISSED]
    per_obligation = Counter(r.envelope["subject"] for r in missed)
    assert set(per_obligation) == {str(i) for i in missed_ids}
    assert set(per_obligation.values()) == {1}, "a deadline reported twice"
    await all_published(replicas, "filing")
    assert await in_stream(replicas.nats_url, MISSED) == len(missed)

    # Whoever follows missed deadlines (evaluation suggests an order) handles each once.
    followers = replicas.expected((r.envelope["id"], r.type) for r in missed)
    assert "evaluation-deadlines" in followers
    await replicas.handled_once(followers)
