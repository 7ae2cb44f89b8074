"""Alembic operations for the event tables; each service's migrations call them."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from shared.db.base import new_metadata
from shared.events.tables import event_tables


def create_event_tables() -> None:
    """Revision 0001: the tables as they were before parking."""
    tables = event_tables(new_metadata(), parking=False)
    bind = op.get_bind()
    for table in (tables.outbox, tables.inbox, tables.dead_letters):
        table.create(bind)


def drop_event_tables() -> None:
    for name in ("dead_letters", "inbox", "outbox"):
        op.drop_table(name)


def add_outbox_parking() -> None:
    """Outbox rows that keep failing are parked instead of blocking the rows behind."""
    op.add_column("outbox", sa.Column("parked_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index(
        "ix_outbox_parked",
        "outbox",
        ["created_at"],
        postgresql_where=sa.text("parked_at IS NOT NULL"),
    )


def drop_outbox_parking() -> None:
    op.drop_index("ix_outbox_parked", table_name="outbox")
    op.drop_column("outbox", "parked_at")
