"""The outbox, inbox and dead-letter tables every service database carries."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import (
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    Uuid,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB


@dataclass(frozen=True)
class EventTables:
    outbox: Table
    inbox: Table
    dead_letters: Table


def event_tables(metadata: MetaData, *, parking: bool = True) -> EventTables:
    """The three tables; ``parking=False`` is the shape of the first migration only.

    Migrations are frozen: revision 0001 creates the tables as they were, and the
    parking revision adds ``parked_at`` and its index.
    """
    later: list[Column[object] | Index] = []
    if parking:
        later = [
            # Set when the relay gave up on the row after ``max_attempts`` failed
            # publishes; the relay skips it until an operator re-sends it.
            Column("parked_at", DateTime(timezone=True), nullable=True),
            Index("ix_outbox_parked", "created_at", postgresql_where=text("parked_at IS NOT NULL")),
        ]
    outbox = Table(
        "outbox",
        metadata,
        Column("id", Uuid, primary_key=True),
        Column("type", Text, nullable=False),
        Column("subject", Text, nullable=True),
        Column("envelope", JSONB, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("sent_at", DateTime(timezone=True), nullable=True),
        # Publishes that failed while JetStream was up (an outage is not the row's fault).
        Column("attempts", Integer, nullable=False, server_default=text("0")),
        Column("last_error", Text, nullable=True),
        # The relay only ever scans unsent rows: keep that index tiny.
        Index("ix_outbox_unsent", "created_at", postgresql_where=text("sent_at IS NULL")),
        *later,
    )
    inbox = Table(
        "inbox",
        metadata,
        Column("consumer", Text, nullable=False),
        Column("event_id", Text, nullable=False),
        Column("type", Text, nullable=False),
        Column("received_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        PrimaryKeyConstraint("consumer", "event_id"),
    )
    dead_letters = Table(
        "dead_letters",
        metadata,
        Column("id", Uuid, primary_key=True),
        Column("consumer", Text, nullable=False),
        Column("event_id", Text, nullable=True),
        Column("subject", Text, nullable=False),
        Column("payload", LargeBinary, nullable=False),
        Column("error", Text, nullable=False),
        Column("deliveries", Integer, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    )
    return EventTables(outbox=outbox, inbox=inbox, dead_letters=dead_letters)
