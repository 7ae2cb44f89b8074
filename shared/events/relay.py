"""The outbox relay: publishes committed events to JetStream and marks them sent.

One relay is active per database, so events leave in creation order even with
several replicas: the active one holds a PostgreSQL session advisory lock on a
dedicated connection (which also LISTENs for the outbox NOTIFY); the others stand
by and try for the lock every poll. Each pass also takes a transaction-level
advisory lock, so during a hand-over (the old holder's connection just died, its
pass not yet aborted) two passes never publish side by side.

A pass publishes the oldest unsent rows in order with ``Nats-Msg-Id`` = event id
(JetStream drops a duplicate within its window; the consumers' inbox drops the
rest) and marks only what JetStream acknowledged. A failed publish stops the pass,
so later events wait for the earlier one, unless the row itself is at fault:
after ``max_attempts`` such failures it is parked (``parked_at``; counted in
``govit_outbox_parked_total``; listed and re-sent with ``python -m
shared.events.parked``) and the rows behind it flow. A NATS outage is never the
row's fault and parks nothing.

The relay sleeps until a NOTIFY, a short poll interval or the stop signal,
whichever comes first: NOTIFY makes it quick, the poll makes progress certain
even when a notification is lost. Any error in a pass is logged and the next
pass starts afresh (a new dedicated connection if the old one died).
"""

from __future__ import annotations

import asyncio
import json
import logging
from contextlib import suppress
from typing import Any

import asyncpg
import nats.errors
from prometheus_client import Counter
from sqlalchemy import Table, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.functions import now

from shared.db.session import Database, asyncpg_dsn
from shared.events.bus import STREAM, Bus
from shared.events.outbox import NOTIFY_CHANNEL
from shared.events.workers import Health

log = logging.getLogger(__name__)

# Advisory lock keys (per database: the same key in another database never conflicts).
ACTIVE_RELAY_LOCK = 0x676F7669_74000001  # held for as long as a relay is the active one
RELAY_PASS_LOCK = 0x676F7669_74000002  # held by one pass at a time

PARKED = Counter("govit_outbox_parked_total", "Outbox rows parked after repeated publish failures")
PUBLISH_FAILURES = Counter(
    "govit_outbox_publish_failures_total", "Failed outbox publishes", ["blamed_on"]
)

# Refused by the client before anything is sent: only this message can be at fault.
_MESSAGE_ERRORS = (
    nats.errors.MaxPayloadError,
    nats.errors.BadSubjectError,
    nats.errors.BadHeaderError,
)


class OutboxRelay:
    name = "outbox-relay"

    def __init__(
        self,
        db: Database,
        outbox: Table,
        bus: Bus,
        *,
        poll_seconds: float = 1.0,
        batch_size: int = 100,
        publish_timeout: float = 2.0,
        max_attempts: int = 10,
    ) -> None:
        self.db = db
        self.outbox = outbox
        self.bus = bus
        self.poll_seconds = poll_seconds
        self.batch_size = batch_size
        self.publish_timeout = publish_timeout
        self.max_attempts = max_attempts
        self.health = Health(self.name)
        self._wake = asyncio.Event()
        self._conn: asyncpg.Connection | None = None  # the lock holder and NOTIFY listener
        self.active = False
        self._pass_timeout = 30 + 2 * batch_size * publish_timeout  # publish + stream check

    async def run(self, stop: asyncio.Event) -> None:
        try:
            while not stop.is_set():
                self._wake.clear()
                published = 0
                try:
                    if await self._hold_lock():
                        # Bounded: a pass stuck on a half-open connection must not
                        # leave the relay "running" while nothing leaves.
                        published = await asyncio.wait_for(
                            self.publish_pending(), timeout=self._pass_timeout
                        )
                    else:
                        self.health.standby()
                except Exception as exc:  # PostgreSQL restarting, NATS gone, anything
                    first = self.health.failing(exc)  # the traceback once, then one line
                    log.warning("outbox relay pass failed: %r", exc, exc_info=first)
                    await self._release()  # a fresh connection and lock next pass
                if published >= self.batch_size:
                    continue  # a full batch: there may be more waiting
                await self._sleep(stop)
        finally:
            await self._release()

    @property
    def listening(self) -> bool:
        return self._conn is not None and not self._conn.is_closed()

    async def _hold_lock(self) -> bool:
        """Whether this relay is the active one, connecting and trying the lock if needed."""
        if self._conn is not None and self._conn.is_closed():
            await self._release()  # the server went away, and the lock with it
        if self._conn is None:
            conn = await asyncpg.connect(asyncpg_dsn(self.db.url), timeout=5)
            try:
                await conn.add_listener(NOTIFY_CHANNEL, self._on_notify)
            except BaseException:
                await _close(conn)
                raise
            self._conn = conn
        if not self.active:
            self.active = bool(
                await self._conn.fetchval(
                    "SELECT pg_try_advisory_lock($1)", ACTIVE_RELAY_LOCK, timeout=5
                )
            )
            if self.active:
                log.info("outbox relay is the active one for this database")
        return self.active

    def _on_notify(self, *_: object) -> None:
        self._wake.set()

    async def publish_pending(self) -> int:
        """Publish one batch; return how many rows were marked sent."""
        sent: list[Any] = []
        async with self.db.transaction() as session:
            if not await session.scalar(select(func.pg_try_advisory_xact_lock(RELAY_PASS_LOCK))):
                return 0  # another relay's pass is still running: never publish alongside it
            outbox = self.outbox
            rows = (
                await session.execute(
                    select(outbox.c.id, outbox.c.type, outbox.c.envelope, outbox.c.attempts)
                    .where(outbox.c.sent_at.is_(None), outbox.c.parked_at.is_(None))
                    .order_by(outbox.c.created_at, outbox.c.id)
                    .limit(self.batch_size)
                    .with_for_update()
                )
            ).all()
            healthy = True
            for row in rows:
                try:
                    await self.bus.js.publish(
                        row.type,
                        json.dumps(row.envelope, ensure_ascii=False).encode(),
                        timeout=self.publish_timeout,
                        headers={"Nats-Msg-Id": str(row.id)},
                    )
                except Exception as exc:
                    if await self._row_failed(session, row, exc):
                        continue  # parked: the rows behind it go on
                    healthy = False
                    break  # keep order: later events wait for the earlier one
                sent.append(row.id)
            if sent:
                await session.execute(
                    update(outbox).where(outbox.c.id.in_(sent)).values(sent_at=now())
                )
        if healthy:
            self.health.running()
        return len(sent)

    async def _row_failed(self, session: AsyncSession, row: Any, exc: Exception) -> bool:
        """Record a failed publish; True if the row was parked."""
        blamed = await self._is_the_rows_fault(exc)
        PUBLISH_FAILURES.labels("row" if blamed else "nats").inc()
        attempts = row.attempts + 1 if blamed else row.attempts
        parked = blamed and attempts >= self.max_attempts
        values: dict[str, Any] = {"attempts": attempts, "last_error": repr(exc)[:500]}
        if parked:
            values["parked_at"] = now()
        await session.execute(
            update(self.outbox).where(self.outbox.c.id == row.id).values(**values)
        )
        context = {"event_id": str(row.id), "type": row.type, "error": repr(exc)}
        if parked:
            PARKED.inc()
            log.error("outbox row parked after %d failed publishes", attempts, extra=context)
        else:
            first = self.health.failing(exc)
            log.warning("outbox publish failed, will retry", extra=context, exc_info=first)
        return parked

    async def _is_the_rows_fault(self, exc: Exception) -> bool:
        """Blame the row only when JetStream is up and answering: an outage parks nothing."""
        if isinstance(exc, _MESSAGE_ERRORS):
            return True
        if isinstance(exc, TimeoutError) or not self.bus.connected:
            return False
        try:
            await asyncio.wait_for(self.bus.js.stream_info(STREAM), timeout=self.publish_timeout)
        except Exception:
            return False
        return True

    async def _sleep(self, stop: asyncio.Event) -> None:
        waiters = [asyncio.ensure_future(self._wake.wait()), asyncio.ensure_future(stop.wait())]
        try:
            await asyncio.wait(waiters, timeout=self.poll_seconds, return_when="FIRST_COMPLETED")
        finally:
            for waiter in waiters:
                waiter.cancel()

    async def _release(self) -> None:
        """Close the dedicated connection: PostgreSQL frees the lock with the session."""
        conn, self._conn, self.active = self._conn, None, False
        if conn is not None:
            await _close(conn)


async def _close(conn: asyncpg.Connection) -> None:
    with suppress(Exception):
        await asyncio.wait_for(conn.close(), timeout=2)
    if not conn.is_closed():
        conn.terminate()
