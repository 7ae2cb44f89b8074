"""The outbox relay: publishes committed events to JetStream and marks them sent.

It takes a batch ``FOR UPDATE SKIP LOCKED`` (two replicas never publish the same
row at once), publishes in creation order with ``Nats-Msg-Id`` = event id (JetStream
drops a duplicate within its window; the consumers' inbox drops the rest), and
marks only what JetStream acknowledged. It sleeps until a NOTIFY, a short poll
interval or the stop signal, whichever comes first: NOTIFY makes it quick, the
poll makes progress certain even when a notification is lost.
"""

from __future__ import annotations

import asyncio
import json
import logging
from contextlib import suppress
from typing import Any

import asyncpg
from sqlalchemy import Table, select, update
from sqlalchemy.sql.functions import now

from shared.db.session import Database, asyncpg_dsn
from shared.events.bus import Bus
from shared.events.outbox import NOTIFY_CHANNEL

log = logging.getLogger(__name__)


class OutboxRelay:
    def __init__(
        self,
        db: Database,
        outbox: Table,
        bus: Bus,
        *,
        poll_seconds: float = 1.0,
        batch_size: int = 100,
        publish_timeout: float = 2.0,
    ) -> None:
        self.db = db
        self.outbox = outbox
        self.bus = bus
        self.poll_seconds = poll_seconds
        self.batch_size = batch_size
        self.publish_timeout = publish_timeout
        self._wake = asyncio.Event()
        self._listener: asyncpg.Connection | None = None

    async def publish_pending(self) -> int:
        """Publish one batch; return how many rows were marked sent."""
        sent: list[Any] = []
        async with self.db.transaction() as session:
            rows = (
                await session.execute(
                    select(self.outbox.c.id, self.outbox.c.type, self.outbox.c.envelope)
                    .where(self.outbox.c.sent_at.is_(None))
                    .order_by(self.outbox.c.created_at, self.outbox.c.id)
                    .limit(self.batch_size)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            for row in rows:
                try:
                    await self.bus.js.publish(
                        row.type,
                        json.dumps(row.envelope, ensure_ascii=False).encode(),
                        timeout=self.publish_timeout,
                        headers={"Nats-Msg-Id": str(row.id)},
                    )
                except Exception as exc:  # NATS down or slow: keep the row, retry later
                    await session.execute(
                        update(self.outbox)
                        .where(self.outbox.c.id == row.id)
                        .values(attempts=self.outbox.c.attempts + 1, last_error=repr(exc)[:500])
                    )
                    log.warning("outbox publish failed, will retry", extra={"error": repr(exc)})
                    break  # keep order: later events wait for the earlier one
                sent.append(row.id)
            if sent:
                await session.execute(
                    update(self.outbox).where(self.outbox.c.id.in_(sent)).values(sent_at=now())
                )
        return len(sent)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self._ensure_listener()
            self._wake.clear()
            try:
                published = await self.publish_pending()
            except Exception:
                log.exception("outbox relay pass failed")
                published = 0
            if published >= self.batch_size:
                continue  # a full batch: there may be more waiting
            await self._sleep(stop)
        await self._close_listener()

    async def _sleep(self, stop: asyncio.Event) -> None:
        waiters = [asyncio.ensure_future(self._wake.wait()), asyncio.ensure_future(stop.wait())]
        try:
            await asyncio.wait(waiters, timeout=self.poll_seconds, return_when="FIRST_COMPLETED")
        finally:
            for waiter in waiters:
                waiter.cancel()

    async def _ensure_listener(self) -> None:
        if self._listener is not None and not self._listener.is_closed():
            return
        try:
            conn = await asyncpg.connect(asyncpg_dsn(self.db.url), timeout=2)
            await conn.add_listener(NOTIFY_CHANNEL, lambda *_: self._wake.set())
            self._listener = conn
        except (OSError, asyncpg.PostgresError, TimeoutError):
            self._listener = None  # polling still guarantees progress

    async def _close_listener(self) -> None:
        if self._listener is not None:
            with suppress(Exception):
                await self._listener.close()
            self._listener = None
