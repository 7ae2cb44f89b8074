"""Parked outbox rows: list them, and re-send them once the cause is fixed.

The relay parks a row after ``max_attempts`` publishes that failed while JetStream
was up (a subject no stream takes, a message over the size limit...). Re-sending
clears ``parked_at`` and the count; the relay then publishes the row on its next
pass, ahead of newer rows. The database is the service's own; from a shell::

    python -m shared.events.parked list --service registry
    python -m shared.events.parked resend --service registry --id <event id> [--id ...]
    python -m shared.events.parked resend --service registry --all

The database URL is ``--database-url``, else ``GOVIT_DATABASE_URL`` / ``DATABASE_URL``
(set in a service's pod), else the service's database under ``make up``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime

from sqlalchemy import Table, func, select, update

from shared.db.base import new_metadata
from shared.db.session import Database
from shared.events.outbox import NOTIFY_CHANNEL
from shared.events.tables import event_tables

# Where ``make up`` (deploy/local/up.py) puts PostgreSQL and each service's database.
LOCAL_SERVER = "postgresql+asyncpg://govit@127.0.0.1:54329"


@dataclass(frozen=True)
class ParkedRow:
    id: uuid.UUID
    type: str
    subject: str | None
    created_at: datetime
    parked_at: datetime
    attempts: int
    last_error: str | None


async def list_parked(db: Database, outbox: Table, limit: int = 1000) -> list[ParkedRow]:
    """The parked rows, oldest first."""
    async with db.transaction() as session:
        rows = await session.execute(
            select(
                outbox.c.id,
                outbox.c.type,
                outbox.c.subject,
                outbox.c.created_at,
                outbox.c.parked_at,
                outbox.c.attempts,
                outbox.c.last_error,
            )
            .where(outbox.c.parked_at.is_not(None))
            .order_by(outbox.c.created_at, outbox.c.id)
            .limit(limit)
        )
        return [ParkedRow(**row._mapping) for row in rows]


async def resend(db: Database, outbox: Table, ids: Sequence[uuid.UUID] | None = None) -> int:
    """Un-park the given rows (all parked rows when ``ids`` is None); returns how many."""
    statement = (
        update(outbox)
        .where(outbox.c.parked_at.is_not(None))
        .values(parked_at=None, attempts=0)
        .returning(outbox.c.id)
    )
    if ids is not None:
        statement = statement.where(outbox.c.id.in_(list(ids)))
    async with db.transaction() as session:
        count = len((await session.execute(statement)).all())
        if count:
            await session.execute(select(func.pg_notify(NOTIFY_CHANNEL, "resend")))
    return count


def _database_url(args: argparse.Namespace) -> str:
    url = (
        args.database_url or os.environ.get("GOVIT_DATABASE_URL") or os.environ.get("DATABASE_URL")
    )
    return url or f"{LOCAL_SERVER}/govit_{args.service}"


async def _main(args: argparse.Namespace) -> int:
    db = Database(_database_url(args), pool_size=1)
    outbox = event_tables(new_metadata()).outbox
    try:
        if args.command == "list":
            for row in await list_parked(db, outbox):
                print(json.dumps(asdict(row), default=str, ensure_ascii=False))
            return 0
        ids = None if args.all else args.id
        count = await resend(db, outbox, ids)
        print(f"{count} parked row(s) of {args.service} queued for sending again")
        return 0 if count or args.all else 1
    finally:
        await db.dispose()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.events.parked", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    for name, text in (("list", "print parked rows as JSON lines"), ("resend", "un-park rows")):
        command = commands.add_parser(name, help=text)
        command.add_argument("--service", required=True, help="registry, approval, ...")
        command.add_argument("--database-url", help="the service's database (SQLAlchemy URL)")
        if name == "resend":
            which = command.add_mutually_exclusive_group(required=True)
            which.add_argument(
                "--id", action="append", type=uuid.UUID, default=[], help="an event id"
            )
            which.add_argument("--all", action="store_true", help="every parked row")
    args = parser.parse_args(argv)
    return asyncio.run(_main(args))


if __name__ == "__main__":
    sys.exit(main())
