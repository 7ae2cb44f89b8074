"""A consumer whose NATS goes away: at the moment of its ack, and before it subscribes.

Each test runs its own NATS (the session's is never stopped) and the session's
PostgreSQL. The consumer runs under the supervisor, as in a service.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from prometheus_client import REGISTRY
from sqlalchemy.ext.asyncio import AsyncSession

from deploy.local.stack import Nats, free_port
from shared.events import Event
from shared.events.bus import Bus
from shared.events.consumer import Consumer
from shared.events.workers import Supervisor
from tests.shared.test_events_delivery import EVENT_TYPE, Kit, publish, unit_event, wait_until


@asynccontextmanager
async def supervised(consumer: Consumer) -> AsyncIterator[Supervisor]:
    supervisor = Supervisor(initial_backoff=0.2, max_backoff=1)
    supervisor.add(consumer)
    stop = asyncio.Event()
    supervisor.start(stop)
    try:
        yield supervisor
    finally:
        stop.set()
        await supervisor.wait(grace_seconds=10)


def consumer_for(kit: Kit, bus: Bus, handler: object) -> Consumer:
    return Consumer(
        kit.db,
        kit.tables,
        bus,
        durable=f"faults-{uuid.uuid4().hex[:8]}",
        subject=EVENT_TYPE,
        handler=handler,  # type: ignore[arg-type]
        max_deliveries=3,
        retry_delay_seconds=0.1,
        ack_wait_seconds=2,
    )


async def _effects(kit: Kit, event: Event) -> int:
    return await kit.count(kit.effects, kit.effects.c.event_id == event.id)


def _duplicates(consumer: Consumer) -> float:
    value = REGISTRY.get_sample_value(
        "govit_events_duplicates_total", {"consumer": consumer.durable}
    )
    return value or 0


async def test_nats_stopped_at_the_moment_of_ack_the_event_is_redelivered_and_handled_once(
    kit: Kit, tmp_path: Path
) -> None:
    nats = Nats(tmp_path / "nats", free_port(), free_port())
    nats.start(tmp_path / "nats.log")
    bus = await Bus.connect(nats.url, name="test-ack-outage")
    first = unit_event("运城市行政审批服务管理局")

    async def handler(session: AsyncSession, event: Event) -> None:
        await kit.record_effect(session, event)
        if event.id == first.id and nats.proc is not None:
            # Committed next, then acked: NATS is gone by then.
            await asyncio.to_thread(nats.stop)
            await wait_until(_disconnected(bus), seconds=10)

    consumer = consumer_for(kit, bus, handler)
    try:
        async with supervised(consumer) as supervisor:
            await publish(bus, first)
            await wait_until(lambda: _is(consumer, "failing"), seconds=15)
            assert await _effects(kit, first) == 1  # the handler's transaction committed

            await asyncio.to_thread(nats.start, tmp_path / "nats.log")  # same port and store
            # Unacked, so JetStream delivers it again; the inbox has it, the handler does not run.
            await wait_until(lambda: _async(_duplicates(consumer) >= 1), seconds=30)
            later = unit_event("永济市人民政府")
            await publish(bus, later)
            await wait_until(lambda: _has_effect(kit, later), seconds=20)

            assert await _effects(kit, first) == 1
            assert supervisor.not_ready() == []
            assert consumer.health.state == "running"
    finally:
        await bus.close()
        nats.stop()


async def test_a_consumer_that_cannot_subscribe_is_restarted_until_it_can(
    kit: Kit, tmp_path: Path
) -> None:
    nats = Nats(tmp_path / "nats", free_port(), free_port())
    nats.start(tmp_path / "nats.log")
    bus = await Bus.connect(nats.url, name="test-subscribe-outage")
    nats.stop()
    await wait_until(_disconnected(bus), seconds=10)
    consumer = consumer_for(kit, bus, kit.record_effect)
    try:
        async with supervised(consumer) as supervisor:
            await wait_until(lambda: _is(consumer, "down"), seconds=15)
            assert supervisor.not_ready() == [consumer.durable]

            await asyncio.to_thread(nats.start, tmp_path / "nats.log")
            await wait_until(lambda: _is(consumer, "running"), seconds=30)
            event = unit_event("芮城县人民政府")
            await publish(bus, event)
            await wait_until(lambda: _has_effect(kit, event), seconds=20)
            assert supervisor.not_ready() == []
    finally:
        await bus.close()
        nats.stop()


def _disconnected(bus: Bus) -> object:
    async def check() -> bool:
        return not bus.connected

    return check


async def _is(consumer: Consumer, state: str) -> bool:
    return consumer.health.state == state


async def _async(value: bool) -> bool:
    return value


async def _has_effect(kit: Kit, event: Event) -> bool:
    return await _effects(kit, event) > 0
