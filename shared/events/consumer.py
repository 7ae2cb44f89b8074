"""The idempotent consumer: a durable JetStream pull consumer with an inbox.

For each message: one transaction records the event id in the inbox (``ON CONFLICT
DO NOTHING``) and runs the handler; only after it commits is the message acked. A
redelivered event finds its id already there and changes nothing. A handler that
keeps failing is retried with a growing delay and, at the last allowed delivery,
written to ``dead_letters`` and terminated, so it never blocks the events behind it.
A failure because the database is down is not the event's fault: it is retried
without counting towards the dead letter.

Nothing about one message ends the consumer: if the dead-letter write fails (the
database is down) or the ack cannot be sent (NATS is gone), the message is simply
redelivered later; JetStream itself never gives up on a message (``max_deliver``
is unlimited), the count of deliveries is enforced here. A subscription that keeps
failing raises, and the supervisor (``workers.py``) subscribes again with backoff.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import suppress

import nats.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from prometheus_client import Counter
from sqlalchemy import insert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from shared.db.session import Database
from shared.events.bus import STREAM, Bus
from shared.events.envelope import Event, decode_event
from shared.events.tables import EventTables
from shared.events.workers import Health
from shared.ids import new_id

log = logging.getLogger(__name__)

Handler = Callable[[AsyncSession, Event], Awaitable[None]]

DUPLICATES = Counter(
    "govit_events_duplicates_total",
    "Redelivered events the inbox had already seen (acked, handler not run)",
    ["consumer"],
)
DEAD_LETTERED = Counter(
    "govit_events_dead_lettered_total", "Events written to dead_letters", ["consumer"]
)
# After this many fetches in a row fail (not time out), subscribe again from scratch.
MAX_FETCH_FAILURES = 10
MAX_RETRY_DELAY_SECONDS = 60.0


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
        self.health = Health(durable)

    @property
    def name(self) -> str:
        return self.durable

    async def run(self, stop: asyncio.Event) -> None:
        sub = await self._subscribe()  # failing here ends the run: the supervisor retries
        self.health.running()
        failures = 0
        try:
            while not stop.is_set():
                try:
                    messages = await sub.fetch(self.batch_size, timeout=1)
                except (TimeoutError, nats.errors.TimeoutError):
                    # Nothing waiting, which says nothing of the database. nats-py raises a
                    # bare (asyncio) TimeoutError when the wait ran out before its second pull
                    # request (seen with a busy CPU: many replicas in one process).
                    messages = []
                except Exception as exc:  # connection trouble: the client reconnects by itself
                    failures += 1
                    first = self.health.failing(exc)
                    log.warning(
                        "fetch failed: %r", exc, extra={"consumer": self.durable}, exc_info=first
                    )
                    if failures >= MAX_FETCH_FAILURES:
                        raise
                    await asyncio.sleep(0.5)
                    continue
                if failures:  # fetching works again
                    failures = 0
                    self.health.running()
                handled = [await self.process(msg) for msg in messages]
                if messages and all(handled):
                    self.health.running()  # a message that failed to settle is settled now
        finally:
            with suppress(Exception):
                await sub.unsubscribe()

    async def _subscribe(self) -> JetStreamContext.PullSubscription:
        # add_consumer creates the durable consumer or updates its config (NATS 2.10+),
        # so a changed setting reaches a consumer created by an earlier release.
        await self.bus.js.add_consumer(
            STREAM,
            ConsumerConfig(
                name=self.durable,
                durable_name=self.durable,
                filter_subject=self.subject,
                ack_policy=AckPolicy.EXPLICIT,
                deliver_policy=DeliverPolicy.ALL,
                max_deliver=-1,  # never dropped by JetStream: see the module docstring
                ack_wait=self.ack_wait_seconds,
            ),
        )
        return await self.bus.js.pull_subscribe_bind(durable=self.durable, stream=STREAM)

    async def process(self, msg: Msg) -> bool:
        """Handle one message; False if it could not be settled (it will come again)."""
        try:
            await self._process(msg)
        except Exception as exc:
            # The database is down, or the dead-letter write or the ack/nak/term failed:
            # nothing is lost, the message comes again (after its nak delay or ack_wait)
            # and the inbox keeps it idempotent.
            first = self.health.failing(exc)  # the traceback once, then one line
            log.warning(
                "message not settled; it will be redelivered: %r",
                exc,
                extra={"consumer": self.durable, "subject": msg.subject},
                exc_info=first,
            )
            return False
        return True

    async def _process(self, msg: Msg) -> None:
        deliveries = msg.metadata.num_delivered or 1
        try:
            event = decode_event(msg.data)
        except Exception as exc:  # poison: it will never decode, so do not retry it
            await self._dead_letter_and_term(msg, None, exc, deliveries)
            return
        try:
            async with self.db.transaction() as session:
                ran = await self.handle_once(session, event)
        except Exception as exc:
            if await self._database_is_down(exc):
                # Not the event's fault: retry later, and never dead-letter it for this.
                await msg.nak(delay=self._retry_delay(deliveries))
                raise
            if deliveries >= self.max_deliveries:
                await self._dead_letter_and_term(msg, event.id, exc, deliveries)
            else:
                log.warning("handler failed; will retry", extra={"event_id": event.id})
                await msg.nak(delay=self._retry_delay(deliveries))
            return
        if not ran:
            DUPLICATES.labels(self.durable).inc()
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

    async def _database_is_down(self, exc: Exception) -> bool:
        """A lost connection (PostgreSQL restarting) or a database that does not answer."""
        if isinstance(exc, DBAPIError) and exc.connection_invalidated:
            return True
        try:
            await asyncio.wait_for(self.db.ping(), timeout=2)
        except Exception:
            return True
        return False

    def _retry_delay(self, deliveries: int) -> float:
        return min(MAX_RETRY_DELAY_SECONDS, self.retry_delay_seconds * deliveries)

    async def _dead_letter_and_term(
        self, msg: Msg, event_id: str | None, exc: BaseException, deliveries: int
    ) -> None:
        try:
            await self._dead_letter(msg, event_id, exc, deliveries)
        except Exception:
            # The database is down at the last delivery: keep the message (JetStream
            # redelivers it; the handler gets another chance once the database is back).
            with suppress(Exception):
                await msg.nak(delay=self._retry_delay(deliveries))
            raise
        await msg.term()

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
        DEAD_LETTERED.labels(self.durable).inc()
