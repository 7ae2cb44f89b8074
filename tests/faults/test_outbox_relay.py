"""The outbox relay under faults: a row that can never be published, and two replicas.

Both run against the session's PostgreSQL and NATS (nothing is stopped here); each
test has its own database, and its own stream where it needs one.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from dataclasses import replace

from nats.js.api import StreamConfig
from prometheus_client import REGISTRY
from sqlalchemy import select

from shared.db.session import Database
from shared.events import Event, emit
from shared.events.bus import Bus
from shared.events.relay import OutboxRelay
from tests.shared.test_events_delivery import (
    EVENT_TYPE,
    Kit,
    stream_messages,
    unit_event,
    wait_until,
)
from tests.support.fixtures import Stack


async def _sent(kit: Kit, event: Event) -> bool:
    outbox = kit.tables.outbox
    return await kit.count(
        outbox, outbox.c.id == uuid.UUID(event.id), outbox.c.sent_at.is_not(None)
    )


async def _all_sent(kit: Kit) -> bool:
    outbox = kit.tables.outbox
    return await kit.count(outbox, outbox.c.sent_at.is_(None)) == 0


def parked_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "shared.events.parked", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_a_row_that_always_fails_is_parked_and_the_rows_behind_it_flow(
    kit: Kit, stack: Stack
) -> None:
    orphan = f"orphan{uuid.uuid4().hex[:8]}"
    # No stream takes this subject: JetStream is up and answers, yet this row can
    # never be published, as a type mistyped in a release would be.
    poison = replace(unit_event("无人订阅的事件"), type=f"{orphan}.unit.registered")
    before, after, last = unit_event("阳城县"), unit_event("沁水县"), unit_event("高平市")
    async with kit.db.transaction() as session:
        for event in (before, poison, after, last):
            await emit(session, kit.tables.outbox, event)
    parked_before = REGISTRY.get_sample_value("govit_outbox_parked_total") or 0

    bus = await Bus.connect(stack.nats_url, name="test-parking")
    relay = OutboxRelay(kit.db, kit.tables.outbox, bus, poll_seconds=0.1, max_attempts=3)
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    try:
        await wait_until(lambda: _sent(kit, last))
        outbox = kit.tables.outbox
        async with kit.db.transaction() as session:
            row = (
                await session.execute(select(outbox).where(outbox.c.id == uuid.UUID(poison.id)))
            ).one()
        assert row.sent_at is None
        assert row.parked_at is not None
        assert row.attempts == 3
        assert "NoStreamResponse" in row.last_error  # no stream takes the subject
        assert REGISTRY.get_sample_value("govit_outbox_parked_total") == parked_before + 1
        delivered = [msg_id for msg_id, _ in await stream_messages(bus, EVENT_TYPE)]
        ours = [i for i in delivered if i in {before.id, after.id, last.id}]
        assert ours == [before.id, after.id, last.id]
        assert relay.health.state == "running"

        listed = parked_cli("list", "--service", "test", "--database-url", kit.db.url)
        assert listed.returncode == 0, listed.stderr
        rows = [json.loads(line) for line in listed.stdout.splitlines()]
        assert [r["id"] for r in rows] == [poison.id]
        assert rows[0]["type"] == poison.type and rows[0]["attempts"] == 3

        # The operator fixes the cause (here: a stream for the subject), then re-sends.
        stream = f"ORPHAN_{orphan.upper()}"
        await bus.js.add_stream(StreamConfig(name=stream, subjects=[f"{orphan}.>"]))
        try:
            resent = parked_cli(
                "resend", "--service", "test", "--database-url", kit.db.url, "--id", poison.id
            )
            assert resent.returncode == 0, resent.stderr
            assert resent.stdout.startswith("1 parked row(s)")
            await wait_until(lambda: _sent(kit, poison))
            assert await kit.count(outbox, outbox.c.parked_at.is_not(None)) == 0
            info = await bus.js.stream_info(stream)
            assert info.state.messages == 1
        finally:
            await bus.js.delete_stream(stream)
        nothing = parked_cli("list", "--service", "test", "--database-url", kit.db.url)
        assert nothing.returncode == 0 and nothing.stdout == ""
    finally:
        stop.set()
        await task
        await bus.close()


async def test_two_relays_on_one_database_publish_in_commit_order(kit: Kit, stack: Stack) -> None:
    async def commit(count: int) -> list[Event]:
        events = [unit_event(f"第{n}号单位") for n in range(count)]
        for event in events:  # one transaction each: commit order is creation order
            async with kit.db.transaction() as session:
                await emit(session, kit.tables.outbox, event)
        return events

    committed = await commit(150)  # a backlog both replicas see at once
    replicas = []
    for n in range(2):
        bus = await Bus.connect(stack.nats_url, name=f"test-replica-{n}")
        db = Database(kit.db.url, pool_size=2)
        relay = OutboxRelay(db, kit.tables.outbox, bus, poll_seconds=0.1, batch_size=5)
        replicas.append((relay, bus, db, asyncio.Event()))
    tasks = [asyncio.create_task(relay.run(stop)) for relay, _, _, stop in replicas]
    try:
        committed += await commit(50)  # and more while both run
        await wait_until(lambda: _all_sent(kit), seconds=60)
        assert sorted(relay.health.state for relay, *_ in replicas) == ["running", "standby"]

        # The active replica stops: the standby takes the lock and carries on, in order.
        active = next(i for i, (relay, *_) in enumerate(replicas) if relay.active)
        replicas[active][3].set()
        await tasks[active]
        committed += await commit(20)
        await wait_until(lambda: _all_sent(kit), seconds=60)
        assert replicas[1 - active][0].active

        bus = replicas[1 - active][1]
        ids = {event.id for event in committed}
        published = [i for i, _ in await stream_messages(bus, EVENT_TYPE) if i in ids]
        assert published == [event.id for event in committed]
    finally:
        for _, _, _, stop in replicas:
            stop.set()
        await asyncio.gather(*tasks)
        for _, bus, db, _ in replicas:
            await bus.close()
            await db.dispose()
