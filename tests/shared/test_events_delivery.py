"""The outbox and the inbox against the real PostgreSQL and a real NATS JetStream.

Each test gets its own database (commits must be visible to the relay's
connections) and, where it stops NATS, its own NATS server from the wheel.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, Text, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from deploy.local.stack import Nats, free_port
from shared.db import new_metadata
from shared.db.session import Database
from shared.events import Event, EventTables, emit, event_tables, new_event
from shared.events.bus import STREAM, Bus
from shared.events.consumer import Consumer
from shared.events.relay import OutboxRelay
from tests.support.checks import wait_until
from tests.support.databases import Databases
from tests.support.fixtures import Stack

EVENT_TYPE = "govit.registry.unit.registered"


def unit_event(name: str = "临汾市水利局") -> Event:
    unit_id = str(uuid.uuid4())
    return new_event(
        EVENT_TYPE,
        source="/govit/test",
        subject=unit_id,
        time=datetime.now(UTC),
        data={"id": unit_id, "name": name, "jurisdiction": "linfen-water", "parent": None},
    )


class Kit:
    """A database with the event tables and an ``effects`` table handlers write to."""

    def __init__(self, db: Database, tables: EventTables, effects: Table) -> None:
        self.db, self.tables, self.effects = db, tables, effects

    async def count(self, table: Table, *where: object) -> int:
        async with self.db.transaction() as session:
            return int(await session.scalar(select(func.count()).select_from(table).where(*where)))

    async def record_effect(self, session: AsyncSession, event: Event) -> None:
        await session.execute(insert(self.effects).values(event_id=event.id))


@pytest.fixture
async def kit(databases: Databases) -> AsyncIterator[Kit]:
    metadata: MetaData = new_metadata()
    tables = event_tables(metadata)
    effects = Table(
        "effects", metadata, Column("n", Integer, primary_key=True), Column("event_id", Text)
    )
    db = Database(await databases.create(), pool_size=5)
    async with db.engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    yield Kit(db, tables, effects)
    await db.dispose()


async def stream_messages(bus: Bus, subject: str) -> list[tuple[str, dict[str, object]]]:
    """Every message on ``subject`` in the stream: (Nats-Msg-Id, envelope or ``{}``).

    Read until the consumer has none pending (not until a pause, which a loaded
    machine can make between two messages)."""
    sub = await bus.js.subscribe(subject, ordered_consumer=True, stream=STREAM)
    found = []
    try:
        pending = 1
        while pending:
            try:
                msg = await sub.next_msg(timeout=5)
            except TimeoutError:
                break  # nothing on the subject at all
            pending = msg.metadata.num_pending
            try:
                envelope = json.loads(msg.data)
            except ValueError:  # the malformed-message test's, on the same subject
                envelope = {}
            found.append(((msg.headers or {}).get("Nats-Msg-Id", ""), envelope))
    finally:
        await sub.unsubscribe()
    return found


async def test_event_written_while_nats_is_down_is_delivered_when_it_returns(
    kit: Kit, stack: Stack, tmp_path: Path
) -> None:
    nats = Nats(tmp_path / "nats", free_port(), free_port())
    nats.start(tmp_path / "nats.log")
    bus = await Bus.connect(nats.url, name="test-relay")
    relay = OutboxRelay(kit.db, kit.tables.outbox, bus, poll_seconds=0.2, publish_timeout=0.5)
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    try:
        nats.stop()
        event = unit_event()
        async with kit.db.transaction() as session:
            await emit(session, kit.tables.outbox, event)

        # NATS is down: the relay tries, fails and keeps the row; an outage is not
        # the row's fault, so it counts no attempt against it and never parks it.
        outbox = kit.tables.outbox
        await wait_until(lambda: kit.count(outbox, outbox.c.last_error.is_not(None)))
        assert await kit.count(outbox, outbox.c.sent_at.is_(None), outbox.c.attempts == 0) == 1

        nats.start(tmp_path / "nats.log")  # same port, same store
        await wait_until(lambda: _none_unsent(kit))

        delivered = await stream_messages(bus, EVENT_TYPE)
        ids = [msg_id for msg_id, _ in delivered]
        assert event.id in ids, "the event reached JetStream"
        envelope = dict(delivered[ids.index(event.id)][1])
        assert envelope["specversion"] == "1.0"
        assert envelope["type"] == EVENT_TYPE
        assert envelope["data"] == event.data
    finally:
        stop.set()
        await task
        await bus.close()
        nats.stop()


async def _none_unsent(kit: Kit) -> bool:
    return await kit.count(kit.tables.outbox, kit.tables.outbox.c.sent_at.is_(None)) == 0


async def test_rolled_back_transaction_publishes_nothing(kit: Kit, stack: Stack) -> None:
    with pytest.raises(RuntimeError):
        async with kit.db.transaction() as session:
            await emit(session, kit.tables.outbox, unit_event())
            raise RuntimeError("the use case failed after writing its event")
    assert await kit.count(kit.tables.outbox) == 0


@asynccontextmanager
async def consuming(
    kit: Kit,
    stack: Stack,
    handler: Callable[[AsyncSession, Event], Awaitable[None]],
    *,
    max_deliveries: int = 3,
) -> AsyncIterator[tuple[Bus, Consumer]]:
    """A fresh durable consumer running against the session's NATS, stopped at the end."""
    bus = await Bus.connect(stack.nats_url, name="test-consumer")
    consumer = Consumer(
        kit.db,
        kit.tables,
        bus,
        durable=f"test-{uuid.uuid4().hex[:8]}",
        subject=EVENT_TYPE,
        handler=handler,
        max_deliveries=max_deliveries,
        retry_delay_seconds=0.1,
        ack_wait_seconds=5,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))
    try:
        yield bus, consumer
    finally:
        stop.set()
        await task
        await bus.close()


async def publish(bus: Bus, event: Event, msg_id: str | None = None) -> None:
    await bus.js.publish(
        event.type,
        json.dumps(event.envelope()).encode(),
        headers={"Nats-Msg-Id": msg_id or event.id},
    )


async def test_duplicated_delivery_of_one_event_changes_nothing(kit: Kit, stack: Stack) -> None:
    async with consuming(kit, stack, kit.record_effect) as (bus, _):
        event = unit_event()
        # Two different message ids defeat JetStream's de-duplication, as a relay
        # retrying after the duplicate window would: the inbox must catch it.
        await publish(bus, event, msg_id=f"{event.id}-a")
        await publish(bus, event, msg_id=f"{event.id}-b")
        later = unit_event("襄汾县人民政府")
        await publish(bus, later)
        await wait_until(lambda: _effects_for(kit, later.id))
        assert await kit.count(kit.effects, kit.effects.c.event_id == event.id) == 1
        assert await kit.count(kit.tables.inbox, kit.tables.inbox.c.event_id == event.id) == 1


async def _effects_for(kit: Kit, event_id: str) -> bool:
    return await kit.count(kit.effects, kit.effects.c.event_id == event_id) > 0


async def test_failing_event_is_dead_lettered_and_does_not_block_the_next(
    kit: Kit, stack: Stack
) -> None:
    poison = unit_event("故障单位")

    async def handler(session: AsyncSession, event: Event) -> None:
        if event.id == poison.id:
            raise ValueError("this handler cannot process the event")
        await kit.record_effect(session, event)

    async with consuming(kit, stack, handler, max_deliveries=3) as (bus, _):
        healthy = unit_event("晋城市大数据应用局")
        await publish(bus, poison)
        await publish(bus, healthy)
        await wait_until(lambda: _effects_for(kit, healthy.id))
        dead = kit.tables.dead_letters
        await wait_until(lambda: _dead(kit, dead.c.event_id == poison.id))
        async with kit.db.transaction() as session:
            row = (await session.execute(select(dead).where(dead.c.event_id == poison.id))).one()
        assert row.deliveries == 3
        assert "cannot process" in row.error
        # The failed attempts left no half-done work and no inbox entry behind.
        assert await kit.count(kit.effects, kit.effects.c.event_id == poison.id) == 0
        assert await kit.count(kit.tables.inbox, kit.tables.inbox.c.event_id == poison.id) == 0


async def _dead(kit: Kit, *where: object) -> bool:
    return await kit.count(kit.tables.dead_letters, *where) > 0


async def test_malformed_message_is_dead_lettered_at_once(kit: Kit, stack: Stack) -> None:
    async with consuming(kit, stack, kit.record_effect) as (bus, consumer):
        await bus.js.publish(EVENT_TYPE, b"{not json", headers={"Nats-Msg-Id": uuid.uuid4().hex})
        dead = kit.tables.dead_letters
        await wait_until(lambda: _dead(kit, dead.c.consumer == consumer.durable))
        async with kit.db.transaction() as session:
            row = (await session.execute(select(dead))).one()
        assert row.deliveries == 1
        assert row.payload == b"{not json"


async def test_a_committed_event_wakes_the_relay_without_waiting_for_the_poll(
    kit: Kit, stack: Stack
) -> None:
    bus = await Bus.connect(stack.nats_url, name="test-notify")
    # A poll interval far longer than the wait below: only NOTIFY can explain delivery.
    relay = OutboxRelay(kit.db, kit.tables.outbox, bus, poll_seconds=120)
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    try:
        await wait_until(lambda: _listening(relay))
        await asyncio.sleep(0.2)  # let the relay finish its first pass and go to sleep
        async with kit.db.transaction() as session:
            await emit(session, kit.tables.outbox, unit_event())
        await wait_until(lambda: _none_unsent(kit), seconds=15)
    finally:
        stop.set()
        await task
        await bus.close()


async def _listening(relay: OutboxRelay) -> bool:
    return relay.listening
