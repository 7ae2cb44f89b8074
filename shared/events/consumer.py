"""The idempotent consumer: a durable JetStream pull consumer with an inbox.

For each message: one transaction records the event id in the inbox (``ON CONFLICT
DO NOTHING``) and runs the handler; only after it commits is the message acked. A
redelivered event finds its id already there and changes nothing. A handler that
keeps failing is retried with a growing delay and, at the last allowed delivery,
written to ``dead_letters`` and terminated, so it never blocks the events behind it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import nats.errors
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from sqlalchemy import insert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from shared.db.session import Database
from shared.events.bus import STREAM, Bus
from shared.events.envelope import Event, decode_event
from shared.events.tables import EventTables
from shared.ids import new_id

log = logging.getLogger(__name__)

Handler = Callable[[AsyncSession, Event], Awaitable[None]]


class Consumer:
    def __init__(
        self,
        db: Database,
        tables: EventTables,
        bus: Bus,
        *,
        durable: str,
        subject: str,
        handler: Handler,
        max_deliveries: int = 5,
        ack_wait_seconds: float = 30,
        retry_delay_seconds: float = 1.0,
        batch_size: int = 20,
    ) -> None:
        self.db = db
        self.tables = tables
        self.bus = bus
        self.durable = durable
        self.subject = subject
        self.handler = handler
        self.max_deliveries = max_deliveries
        self.ack_wait_seconds = ack_wait_seconds
        self.retry_delay_seconds = retry_delay_seconds
        self.batch_size = batch_size

    async def run(self, stop: asyncio.Event) -> None:
        sub = await self.bus.js.pull_subscribe(
            self.subject,
            durable=self.durable,
            stream=STREAM,
            config=ConsumerConfig(
                ack_policy=AckPolicy.EXPLICIT,
                deliver_policy=DeliverPolicy.ALL,
                max_deliver=self.max_deliveries,
                ack_wait=self.ack_wait_seconds,
            ),
        )
        while not stop.is_set():
            try:
                messages = await sub.fetch(self.batch_size, timeout=1)
            except nats.errors.TimeoutError:
                continue
            except Exception:  # connection trouble: the client reconnects by itself
                log.warning("fetch failed", exc_info=True)
                await asyncio.sleep(0.5)
                continue
            for msg in messages:
                await self.process(msg)

    async def process(self, msg: Msg) -> None:
        deliveries = msg.metadata.num_delivered or 1
        try:
            event = decode_event(msg.data)
        except Exception as exc:  # poison: it will never decode, so do not retry it
            await self._dead_letter(msg, None, exc, deliveries)
            await msg.term()
            return
        try:
            async with self.db.transaction() as session:
                await self.handle_once(session, event)
        except Exception as exc:
            if deliveries >= self.max_deliveries:
                await self._dead_letter(msg, event.id, exc, deliveries)
                await msg.term()
            else:
                log.warning("handler failed; will retry", extra={"event_id": event.id})
                await msg.nak(delay=self.retry_delay_seconds * deliveries)
            return
        await msg.ack()

    async def handle_once(self, session: AsyncSession, event: Event) -> bool:
        """Run the handler unless this consumer has seen the event; True if it ran."""
        inbox = self.tables.inbox
        recorded = await session.execute(
            pg_insert(inbox)
            .values(consumer=self.durable, event_id=event.id, type=event.type)
            .on_conflict_do_nothing()
            .returning(inbox.c.event_id)
        )
        if recorded.first() is None:
            return False
        await self.handler(session, event)
        return True

    async def _dead_letter(
        self, msg: Msg, event_id: str | None, exc: BaseException, deliveries: int
    ) -> None:
        log.error("dead-lettering event", extra={"event_id": event_id, "error": repr(exc)})
        async with self.db.transaction() as session:
            await session.execute(
                insert(self.tables.dead_letters).values(
                    id=new_id(),
                    consumer=self.durable,
                    event_id=event_id,
                    subject=msg.subject,
                    payload=msg.data,
                    error=repr(exc)[:2000],
                    deliveries=deliveries,
                )
            )
