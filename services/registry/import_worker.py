"""The import worker: runs the catalogue imports answered ``202`` (``Prefer: respond-async``).

One per replica, a ``shared.events.workers.Periodic`` as filing's deadline scheduler
is: a failed pass is reported through ``health`` (so ``/readyz`` shows it) and tried
again, and the supervisor restarts a worker that ends. A pass takes
the waiting imports one at a time, oldest first, each in two steps:

1. **claim** (a short transaction): the oldest import that is queued, or running past
   its lease (its replica died), ``FOR UPDATE SKIP LOCKED``; it is marked running
   with a new claim id and a lease, and committed, so every replica sees it taken;
2. **run** (one transaction, the one commit point ``Database.transaction``): the
   import row is locked again if it is still this claim's (else another worker took
   it over, and this one leaves it), ``imports.import_file`` runs with the importing
   caller's identity inside a savepoint, and the outcome is written: ``done`` with the
   count (the systems, their revisions and their outbox events commit together with
   it, or none of them) or ``refused`` with the errors (the savepoint is rolled back:
   no row of a refused import is stored, only the import's state). Either way the
   stored file is cleared.

The import row stays locked while it runs, so a lease that runs out during a long
import never hands it to a second worker (``SKIP LOCKED`` passes it by); the lease
matters only once the worker's connection is gone. An import that fails rather
than being refused (a lost connection, a bug) is released and taken again, at most
``MAX_ATTEMPTS`` times, then refused with ``import_failed``.

The worker has a connection pool of its own: a long import never holds a connection
a request needs, and an app whose request sessions are bound to one connection (a
test's rolled-back transaction) is never interleaved with the worker's statements.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Mapping
from contextlib import suppress
from datetime import timedelta
from typing import Any

from fastapi import FastAPI

from services.registry import errors, imports, repository, views
from shared.auth import Principal, Role
from shared.clock import Clock
from shared.db.session import Database
from shared.errors import GovitError
from shared.events.workers import Periodic
from shared.ids import new_id

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 3  # runs that failed (not refused) before the import is given up
# A system row a request holds (a unit's edit) is waited for this long at most: a lock
# held without end would otherwise hold the import, and its row, without end. Past it
# the attempt fails and the import is taken again on the next pass.
LOCK_WAIT_SECONDS = 30.0


class ImportWorker(Periodic):
    name = "registry-imports"

    def __init__(self, app: FastAPI, poll_seconds: float, lease_seconds: float) -> None:
        super().__init__(poll_seconds)
        self.app = app
        self.lease = timedelta(seconds=lease_seconds)
        self.db: Database | None = None  # its own pool, while it runs
        self.stop: asyncio.Event | None = None

    @property
    def clock(self) -> Clock:
        clock: Clock = self.app.state.clock  # read each pass: tests set the clock
        return clock

    async def run(self, stop: asyncio.Event) -> None:
        self.db = Database(self.app.state.settings.database_url, pool_size=1, max_overflow=1)
        self.stop = stop
        try:
            await super().run(stop)
        finally:
            await self.db.dispose()

    async def tick(self) -> int:
        assert self.db is not None, "run() opens the worker's pool"
        return await self.finish_waiting(self.db, self.stop)

    async def finish_waiting(self, db: Database, stop: asyncio.Event | None = None) -> int:
        """Every waiting import, one after another, until none is left or ``stop``;
        how many this worker finished (done or refused)."""
        finished = 0
        while stop is None or not stop.is_set():
            claimed = await self._claim(db)
            if claimed is None:
                break
            import_id, claim = claimed
            if claim is not None and await self._run(db, import_id, claim):
                finished += 1
        return finished

    async def _claim(self, db: Database) -> tuple[uuid.UUID, uuid.UUID | None] | None:
        """(id, claim) of the import taken; claim None when it was given up instead."""
        now = self.clock.now()
        async with db.transaction() as session:
            waiting = await repository.next_import(session, now)
            if waiting is None:
                return None
            import_id: uuid.UUID = waiting["id"]
            if waiting["attempts"] >= MAX_ATTEMPTS:
                failed = errors.IMPORT_FAILED.error(
                    f"the import failed {MAX_ATTEMPTS} times; nothing was stored. Send the"
                    " file again",
                    extra={"message_zh": "导入多次失败，未保存任何数据；请重新提交文件"},
                )
                await repository.set_import(session, import_id, _finished("refused", now, failed))
                log.error("import given up", extra={"import_id": str(import_id)})
                return import_id, None
            claim = new_id()
            values = {
                "state": "running",
                "claim": claim,
                "claimed_at": now,
                "lease_until": now + self.lease,
                "attempts": waiting["attempts"] + 1,
                "started_at": now,
            }
            await repository.set_import(session, import_id, values)
        return import_id, claim

    async def _run(self, db: Database, import_id: uuid.UUID, claim: uuid.UUID) -> bool:
        try:
            async with db.transaction() as session:
                job = await repository.claimed_import(session, import_id, claim)
                if job is None:  # taken over by another worker after the lease ran out
                    return False
                await repository.wait_for_locks_at_most(session, LOCK_WAIT_SECONDS)
                now = self.clock.now()
                try:
                    async with session.begin_nested():  # a refusal stores no row
                        result = await imports.import_file(
                            session, importer(job), job["file"] or b"", now
                        )
                except GovitError as refusal:
                    outcome = _finished("refused", self.clock.now(), refusal)
                else:
                    outcome = {
                        **_finished("done", self.clock.now()),
                        "imported": result["imported"],
                        "encoding": result["encoding"],
                    }
                await repository.set_import(session, import_id, outcome)
        except Exception:
            log.exception("import failed; it is taken again", extra={"import_id": str(import_id)})
            await self._release(db, import_id, claim)
            raise
        log.info("import finished", extra={"import_id": str(import_id), "state": outcome["state"]})
        return True

    async def _release(self, db: Database, import_id: uuid.UUID, claim: uuid.UUID) -> None:
        """Let the next pass take a failed import again at once, not after its lease."""
        with suppress(Exception):  # the lease runs out anyway
            async with db.transaction() as session:
                job = await repository.claimed_import(session, import_id, claim)
                if job is not None:
                    await repository.set_import(
                        session, import_id, {"lease_until": self.clock.now()}
                    )


def importer(job: Mapping[str, Any]) -> Principal:
    """The caller who sent the import, with the rights the token gave it then."""
    return Principal(
        sub=job["sub"],
        org=job["org"],
        jurisdiction=job["jurisdiction"],
        roles=frozenset(Role(r) for r in job["roles"]),
        scopes=frozenset(job["scopes"]),
    )


def _finished(state: str, now: Any, refusal: GovitError | None = None) -> dict[str, Any]:
    """The values of a finished import: its outcome, and the file and claim let go."""
    values: dict[str, Any] = {
        "state": state,
        "finished_at": now,
        "file": None,
        "claim": None,
        "lease_until": None,
    }
    if refusal is not None:
        values["errors"], values["error_count"] = views.import_refusal(refusal)
    return values


def workers(app: FastAPI) -> list[ImportWorker]:
    settings = app.state.settings
    return [ImportWorker(app, settings.import_poll_seconds, settings.import_lease_seconds)]
