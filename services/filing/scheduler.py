"""The missed-deadline scheduler (Prozorro's chronograph), one per replica.

Each open obligation stores its next-check time (``next_check_on``: the first day its
deadline counts as missed). A pass takes the obligations whose time has come with
``FOR UPDATE SKIP LOCKED``, marks each ``missed`` and writes
``govit.filing.deadline.missed`` to the outbox in the same transaction: a row another
replica holds is skipped, and a row it has handled is no longer open, so each
obligation's deadline is reported exactly once however many replicas run. "Today"
is the shared clock's (``GOVIT_CLOCK_OFFSET_DAYS`` walks a demo past a deadline).

A pass also settles obligations still ``pending_calendar`` once their year is loaded
(a filing that raced an administrator's PUT /calendar/{year}, or a year loaded
through another replica).
"""

from __future__ import annotations

import logging

from fastapi import FastAPI

from services.filing import domain, repository, views
from services.filing.models import publisher
from shared.clock import Clock
from shared.db.session import Database
from shared.events.workers import Periodic

log = logging.getLogger(__name__)
BATCH = 200
MISSED = "govit.filing.deadline.missed"


class DeadlineScheduler(Periodic):
    name = "filing-deadlines"

    def __init__(self, app: FastAPI, poll_seconds: float) -> None:
        super().__init__(poll_seconds)
        self.app = app

    @property
    def db(self) -> Database:
        db: Database = self.app.state.db
        return db

    @property
    def clock(self) -> Clock:
        clock: Clock = self.app.state.clock  # read each pass: tests set the clock
        return clock

    async def tick(self) -> int:
        """One pass: every deadline passed by today, in batches; then pending ones."""
        missed = 0
        while True:
            found = await self._missed_batch()
            missed += found
            if found < BATCH:
                break
        await self._settle_pending()
        return missed

    async def _missed_batch(self) -> int:
        today, now = self.clock.today(), self.clock.now()
        async with self.db.transaction() as session:
            due = await repository.due_for_check(session, today, BATCH)
            for obligation in due:
                obligation.status = "missed"
                obligation.next_check_on = None
                obligation.version += 1
                obligation.updated_at = now
            if due:
                await session.flush()
                await publisher.publish_many(
                    session,
                    [publisher.event(MISSED, o.id, views.obligation_payload(o), now) for o in due],
                )
            return len(due)

    async def _settle_pending(self) -> None:
        now = self.clock.now()
        live: domain.LiveCalendar = self.app.state.live_calendar
        async with self.db.transaction() as session:
            calendar = live.apply(await repository.calendar_rows(session))
            waiting = await repository.pending(session, BATCH)
            if waiting:
                await repository.recompute(session, calendar, waiting, now)


def workers(app: FastAPI) -> list[DeadlineScheduler]:
    return [DeadlineScheduler(app, app.state.settings.deadline_check_seconds)]
