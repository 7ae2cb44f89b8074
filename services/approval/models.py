"""The approval service's tables (its own database).

Projects and what hangs off them (materials, opinions, reviews, changes, history),
the number counters, and the projections of other services' events: the registry's
units and systems, evaluation's rectification orders and unit assessments, and the
sanctions on units that those events impose.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    PrimaryKeyConstraint,
    SmallInteger,
    Table,
    Text,
    Uuid,
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
publisher = Publisher("approval", events.outbox)  # source /govit/approval, its outbox
idempotency_keys = idempotency_table(Base.metadata)

Money = Numeric(18, 2)
STATUSES = (
    "draft",
    "submitted",
    "approved",
    "rejected",
    "in_construction",
    "accepted",
    "in_operation",
    "suspended",
    "terminated",
)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Project(Base):
    __tablename__ = "projects"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    org_id: Mapped[uuid.UUID] = mapped_column(Uuid)  # the lead unit
    co_orgs: Mapped[list[uuid.UUID]] = mapped_column(ARRAY(Uuid), default=list)
    jurisdiction: Mapped[str] = mapped_column(Text)
    profile: Mapped[str] = mapped_column(Text)
    profile_version: Mapped[str] = mapped_column(Text)
    name: Mapped[str] = mapped_column(Text)
    number: Mapped[str | None] = mapped_column(Text, unique=True)
    status: Mapped[str] = mapped_column(Text)
    suspended_from: Mapped[str | None] = mapped_column(Text)  # where a resume returns
    delivery: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(Text)
    total_investment: Mapped[Decimal] = mapped_column(Money)
    annual_budgets: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    approved_total: Mapped[Decimal | None] = mapped_column(Money)
    approved_annual_budgets: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    system_ids: Mapped[list[uuid.UUID]] = mapped_column(ARRAY(Uuid))
    declarations: Mapped[dict[str, bool]] = mapped_column(JSONB, default=dict)
    merged_plan_ground: Mapped[str | None] = mapped_column(Text)
    planned_completion_on: Mapped[date | None] = mapped_column(Date)
    approved_on: Mapped[date | None] = mapped_column(Date)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        CheckConstraint(_in("status", STATUSES), name="status"),
        CheckConstraint(_in("delivery", ("self_build", "purchase_service")), name="delivery"),
        CheckConstraint(_in("kind", ("new", "upgrade", "operations")), name="kind"),
        CheckConstraint("total_investment >= 0", name="total_investment"),
        CheckConstraint("approved_total IS NULL OR approved_total >= 0", name="approved_total"),
        Index("ix_projects_jurisdiction_id", "jurisdiction", "id"),
        Index("ix_projects_org_id_id", "org_id", "id"),
        Index("ix_projects_co_orgs", "co_orgs", postgresql_using="gin"),
        Index("ix_projects_system_ids", "system_ids", postgresql_using="gin"),
    )


class Material(Base):
    __tablename__ = "project_materials"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("projects.id"), index=True)
    type: Mapped[str] = mapped_column(Text)
    title: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Opinion(Base):
    __tablename__ = "project_opinions"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("projects.id"), index=True)
    topic: Mapped[str] = mapped_column(Text)
    verdict: Mapped[str] = mapped_column(Text)
    comment: Mapped[str] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Review(Base):
    __tablename__ = "project_reviews"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("projects.id"), index=True)
    need: Mapped[int] = mapped_column(SmallInteger)
    intensiveness: Mapped[int] = mapped_column(SmallInteger)
    feasibility: Mapped[int] = mapped_column(SmallInteger)
    budget: Mapped[int] = mapped_column(SmallInteger)
    performance_goals: Mapped[int] = mapped_column(SmallInteger)
    comment: Mapped[str] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Change(Base):
    __tablename__ = "project_changes"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("projects.id"), index=True)
    classification: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text)
    new_total: Mapped[Decimal] = mapped_column(Money)
    adjusted_amount: Mapped[Decimal] = mapped_column(Money)
    goals_changed: Mapped[bool] = mapped_column(Boolean)
    content: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    annual_budgets: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONB)
    rule: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    decided_by: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        CheckConstraint(_in("classification", ("self_adjustment", "major_change")), name="class"),
        CheckConstraint(_in("status", ("recorded", "pending", "approved", "rejected")), name="st"),
    )


# Every state change: who (a person's sub, or ``event:<type>``), what, under which
# rule, caused by which event; ``changes`` is ``{field: {before, after}}``.
project_history = Table(
    "project_history",
    Base.metadata,
    Column("id", Uuid, primary_key=True, default=new_id),
    Column("project_id", Uuid, ForeignKey("projects.id"), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", Text, nullable=False),
    Column("actor_org", Text, nullable=False),
    Column("action", Text, nullable=False),
    Column("rule", Text),
    Column("cause", Text),  # the event type that moved it; null when a person did
    Column("cause_id", Text),  # that event's id
    Column("changes", JSONB, nullable=False),
    Index("ix_project_history_project_id_at", "project_id", "at", "id"),
)

# The project number's sequence, one row per jurisdiction and year (never reused).
project_numbers = Table(
    "project_numbers",
    Base.metadata,
    Column("jurisdiction", Text, nullable=False),
    Column("year", Integer, nullable=False),
    Column("last", Integer, nullable=False),
    PrimaryKeyConstraint("jurisdiction", "year"),
)

# --- projections of other services' events -------------------------------------------

# govit.registry.unit.*: the unit directory (a unit never changes jurisdiction).
known_units = Table(
    "known_units",
    Base.metadata,
    Column("id", Uuid, primary_key=True),
    Column("name", Text, nullable=False),
    Column("jurisdiction", Text, nullable=False),
    Column("parent", Uuid),
    Column("version", Integer, nullable=False),
)

# govit.registry.system.*: what the pre-screen needs of each system.
catalogued_systems = Table(
    "catalogued_systems",
    Base.metadata,
    Column("id", Uuid, primary_key=True),
    Column("org", Uuid, nullable=False),
    Column("jurisdiction", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("resource_count", Integer, nullable=False),
    Column("facts", JSONB, nullable=False),  # {catalogued, data_shared, on_cloud, secure}
    Column("version", Integer, nullable=False),
)

# govit.evaluation.rectification.*: each order's latest state (suspends projects).
rectification_orders = Table(
    "rectification_orders",
    Base.metadata,
    Column("id", Uuid, primary_key=True),
    Column("project_id", Uuid, nullable=False, index=True),
    Column("org", Uuid, nullable=False),
    Column("jurisdiction", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("rule", Text),
    Column("version", Integer, nullable=False),
)

# govit.evaluation.assessment.published: units' annual assessments (xiangfen:30).
unit_assessments = Table(
    "unit_assessments",
    Base.metadata,
    Column("id", Uuid, primary_key=True),
    Column("org", Uuid, nullable=False),
    Column("jurisdiction", Text, nullable=False),
    Column("year", Integer, nullable=False),
    Column("score", Numeric(6, 2)),
    Column("grade", Text),
    Column("comment", Text),
    Column("version", Integer, nullable=False),
    Index("ix_unit_assessments_org_year", "org", "year"),
)

# Sanctions on a unit (leshan:32, 33, 51), keyed by the record that imposed them
# (an acceptance result, a rectification order); ``active`` false once lifted.
unit_sanctions = Table(
    "unit_sanctions",
    Base.metadata,
    Column("id", Uuid, primary_key=True),
    Column("org", Uuid, nullable=False, index=True),
    Column("jurisdiction", Text, nullable=False),
    Column("project_id", Uuid),
    Column("trigger", Text, nullable=False),
    Column("rule", Text, nullable=False),
    Column("from_year", Integer, nullable=False),
    Column("until_year", Integer),  # null: until lifted
    Column("active", Boolean, nullable=False),
    Column("cause", Text, nullable=False),
    Column("imposed_at", DateTime(timezone=True), nullable=False),
)
