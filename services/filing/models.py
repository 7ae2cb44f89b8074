"""The filing service's tables (its own database).

- ``projects``: the projection of approval's projects (``govit.approval.project.*``);
- ``filings``: every document lodged, of every type, with its deadline verdict;
- ``acceptances``: acceptance results (the authority's acceptance opinion, leshan:31);
- ``obligations``: what a unit owes and by when; ``next_check_on`` is the stored
  next-check time the missed-deadline scheduler reads (never a scan of every project);
- ``calendar_years``: official schedules an administrator loaded (PUT /calendar/{year}).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Text,
    Uuid,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import new_metadata
from shared.events import event_tables
from shared.events.publisher import Publisher
from shared.idempotency import idempotency_table
from shared.ids import new_id


class Base(DeclarativeBase):
    metadata = new_metadata()


events = event_tables(Base.metadata)
publisher = Publisher("filing", events.outbox)  # source /govit/filing, its outbox
idempotency_keys = idempotency_table(Base.metadata)


class Project(Base):
    """Approval's project as its last event told it (full state, ``version``)."""

    __tablename__ = "projects"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    org: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    co_orgs: Mapped[list[uuid.UUID]] = mapped_column(ARRAY(Uuid), server_default="{}")
    jurisdiction: Mapped[str] = mapped_column(Text)
    profile: Mapped[str] = mapped_column(Text)
    profile_version: Mapped[str] = mapped_column(Text)
    name: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text)
    delivery: Mapped[str | None] = mapped_column(Text)
    planned_completion_on: Mapped[date | None] = mapped_column(Date)
    approved_on: Mapped[date | None] = mapped_column(Date)
    approved_annual_budgets: Mapped[list[dict[str, Any]]] = mapped_column(
        JSONB, server_default="[]"
    )
    version: Mapped[int] = mapped_column(Integer)


class Filing(Base):
    __tablename__ = "filings"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("projects.id"), index=True)
    org: Mapped[uuid.UUID] = mapped_column(Uuid)
    jurisdiction: Mapped[str] = mapped_column(Text)
    type: Mapped[str] = mapped_column(Text)
    event_date: Mapped[date] = mapped_column(Date)
    filed_on: Mapped[date] = mapped_column(Date)
    due_on: Mapped[date | None] = mapped_column(Date)
    on_time: Mapped[bool | None] = mapped_column(Boolean)
    obligation_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    documents: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    passed: Mapped[bool | None] = mapped_column(Boolean)
    trial_run_started_on: Mapped[date | None] = mapped_column(Date)
    catalogue_joined: Mapped[bool | None] = mapped_column(Boolean)
    secure_controllable: Mapped[bool | None] = mapped_column(Boolean)
    # Type-specific fields (progress: period, percent_complete, ...; acceptance_delay:
    # requested_until, reason; self_evaluation/performance_monitoring: period).
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    review: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    version: Mapped[int] = mapped_column(Integer, default=1)
    filed_by: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        CheckConstraint(
            "type IN ('contract','supervisor','acceptance','self_evaluation',"
            "'performance_monitoring','progress','acceptance_delay','handover')",
            name="type",
        ),
        Index("ix_filings_jurisdiction_org", "jurisdiction", "org"),
    )


class Acceptance(Base):
    __tablename__ = "acceptances"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("projects.id"), index=True)
    org: Mapped[uuid.UUID] = mapped_column(Uuid)
    jurisdiction: Mapped[str] = mapped_column(Text)
    accepted_on: Mapped[date] = mapped_column(Date)
    passed: Mapped[bool] = mapped_column(Boolean)
    opinion: Mapped[str | None] = mapped_column(Text)
    filing_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)  # recorded by a unit's filing
    recorded_by: Mapped[str] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Obligation(Base):
    __tablename__ = "obligations"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("projects.id"))
    org: Mapped[uuid.UUID] = mapped_column(Uuid)
    jurisdiction: Mapped[str] = mapped_column(Text)
    type: Mapped[str] = mapped_column(Text)
    # Which one of its kind: a budget year, a contract's filing id, or "" for one-offs.
    period: Mapped[str] = mapped_column(Text, server_default="")
    rule: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text)
    due_on: Mapped[date | None] = mapped_column(Date)
    # A working-day deadline is kept as its inputs, so a loaded year can recompute it.
    counted_from: Mapped[date | None] = mapped_column(Date)
    workdays: Mapped[int | None] = mapped_column(Integer)
    met_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    # The stored next-check time: the first day the deadline counts as missed.
    next_check_on: Mapped[date | None] = mapped_column(Date)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        CheckConstraint("status IN ('open','met','missed','pending_calendar')", name="status"),
        Index("uq_obligations_project_id_type_period", "project_id", "type", "period", unique=True),
        Index(
            "ix_obligations_next_check_on",
            "next_check_on",
            postgresql_where=text("status = 'open'"),
        ),
        Index("ix_obligations_jurisdiction_org", "jurisdiction", "org"),
    )


class CalendarYear(Base):
    __tablename__ = "calendar_years"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    holidays: Mapped[list[str]] = mapped_column(JSONB)
    workdays: Mapped[list[str]] = mapped_column(JSONB)
    source: Mapped[str] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer)
    loaded_by: Mapped[str] = mapped_column(Text)
    loaded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
