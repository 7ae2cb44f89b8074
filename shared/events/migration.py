"""Alembic operations that create the event tables; each service's first migration calls them."""

from __future__ import annotations

from alembic import op

from shared.db.base import new_metadata
from shared.events.tables import event_tables


def create_event_tables() -> None:
    tables = event_tables(new_metadata())
    bind = op.get_bind()
    for table in (tables.outbox, tables.inbox, tables.dead_letters):
        table.create(bind)


def drop_event_tables() -> None:
    for name in ("dead_letters", "inbox", "outbox"):
        op.drop_table(name)
