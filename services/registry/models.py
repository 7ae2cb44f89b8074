"""The registry's tables: units, the system catalogue, resources, revisions, and the
catalogue imports that run in the background (``imports``).

Systems are never deleted: retirement is a status, and every change leaves a
revision row (who, when, before/after), which is what ``/history`` reads.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import new_metadata
from shared.events import event_tables
from shared.events.publisher import Publisher
from shared.idempotency import idempotency_table
from shared.ids import new_id
from shared.revisions import revision_table


class Base(DeclarativeBase):
    metadata = new_metadata()


events = event_tables(Base.metadata)
publisher = Publisher("registry", events.outbox)  # source /govit/registry, its outbox


class Unit(Base):
    __tablename__ = "units"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(Text)
    jurisdiction: Mapped[str] = mapped_column(Text, index=True)
    parent_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("units.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    # Migration 0004: one name per jurisdiction (names are stored NFC, shared.text).
    __table_args__ = (Index("uq_units_jurisdiction_name", "jurisdiction", "name", unique=True),)


class System(Base):
    __tablename__ = "systems"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("units.id"))
    # Copied from the unit (which never changes jurisdiction) so lists filter on one table.
    jurisdiction: Mapped[str] = mapped_column(Text)
    name: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text)
    network: Mapped[str] = mapped_column(Text)
    cloud: Mapped[str] = mapped_column(Text)
    cloud_exempt_reason: Mapped[str | None] = mapped_column(Text)
    private_network_approval: Mapped[str | None] = mapped_column(Text)
    sharing_connected: Mapped[bool] = mapped_column(Boolean)
    mlps_level: Mapped[int | None] = mapped_column(SmallInteger)
    crypto_assessed: Mapped[bool] = mapped_column(Boolean)
    asset_registered: Mapped[bool] = mapped_column(Boolean)
    resource_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Resources whose share_type is not "none": the "data shared" fact reads it.
    shared_resource_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        CheckConstraint("status IN ('planned','building','operating','retired')", name="status"),
        CheckConstraint("network IN ('extranet','intranet','internet','private')", name="network"),
        CheckConstraint("cloud IN ('on_cloud','migrating','not_migrated','exempt')", name="cloud"),
        CheckConstraint("mlps_level BETWEEN 1 AND 5", name="mlps_level"),
        # Keyset pages run (filter, id): one index per common filter keeps a page of
        # 50 an index range scan on 100k+ rows.
        Index("ix_systems_org_id_id", "org_id", "id"),
        Index("ix_systems_jurisdiction_id", "jurisdiction", "id"),
        Index("ix_systems_jurisdiction_status_id", "jurisdiction", "status", "id"),
        Index("ix_systems_jurisdiction_cloud_id", "jurisdiction", "cloud", "id"),
        Index(
            "ix_systems_name_trgm",
            "name",
            postgresql_using="gin",
            postgresql_ops={"name": "gin_trgm_ops"},
        ),
    )


class Resource(Base):
    __tablename__ = "resources"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    system_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("systems.id"), index=True)
    name: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(Text)
    format: Mapped[str] = mapped_column(Text)
    update_frequency: Mapped[str] = mapped_column(Text)
    share_type: Mapped[str] = mapped_column(Text)
    open_type: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        CheckConstraint("share_type IN ('unconditional','conditional','none')", name="share_type"),
        CheckConstraint("open_type IN ('open','conditional','none')", name="open_type"),
    )


# The revision trail (who, when, before/after) is the shared kit's table; the ORM
# class maps it for code that wants objects.
system_revisions = revision_table(
    Base.metadata, "system_revisions", "system_id", references="systems.id"
)
idempotency_keys = idempotency_table(Base.metadata)


class SystemRevision(Base):
    """One change to a system: ``changes`` is ``{field: {before, after}}``."""

    __table__ = system_revisions

    id: Mapped[uuid.UUID]
    system_id: Mapped[uuid.UUID]
    at: Mapped[datetime]
    actor: Mapped[str]
    actor_org: Mapped[str]
    changes: Mapped[dict[str, Any]]


class Import(Base):
    """A catalogue import answered ``202`` (``Prefer: respond-async``), run by the
    import worker (``services.registry.import_worker``).

    The file is stored with the row, in the upload's transaction, so a process that
    dies loses nothing; it is cleared once the import has finished. The importing
    caller's identity is kept so the worker imports with exactly the caller's rights.
    A ``running`` import is held by one claim (``claim``); its row stays locked while
    the worker runs it, and once ``lease_until`` has passed without a finish (the
    replica died) another worker takes it again.
    """

    __tablename__ = "imports"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    # Who imported: the token's claims as the worker needs them (``Principal``).
    org: Mapped[str] = mapped_column(Text)
    sub: Mapped[str] = mapped_column(Text)
    jurisdiction: Mapped[str] = mapped_column(Text)
    roles: Mapped[list[str]] = mapped_column(ARRAY(Text))
    scopes: Mapped[list[str]] = mapped_column(ARRAY(Text))
    state: Mapped[str] = mapped_column(Text)
    file: Mapped[bytes | None] = mapped_column(LargeBinary)
    encoding: Mapped[str | None] = mapped_column(Text)
    imported: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # As the synchronous 422 ``import_invalid`` gives them (at most 1000), or one
    # whole-file refusal with its ``code``; ``error_count`` counts them all.
    errors: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list, server_default="[]")
    error_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    claim: Mapped[uuid.UUID | None] = mapped_column()
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        CheckConstraint("state IN ('queued','running','done','refused')", name="state"),
        # What the worker looks for: a small partial index, finished imports leave it.
        Index(
            "ix_imports_waiting",
            "created_at",
            postgresql_where=text("state IN ('queued','running')"),
        ),
    )
