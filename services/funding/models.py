"""The funding service's tables (its own database).

Two kinds: the **projection** of other services' events (``projects``, ``systems``,
``records``, ``calendar_years``; each row keeps the version of its subject and the
event that set it, and is only ever replaced by a newer version), and the service's
own **money** (allocation plans and items, one ledger row per project and year with
CHECK constraints, one ledger entry per movement), plus the stored gate states whose
flips become ``govit.funding.gate.*`` events.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    Table,
    Text,
    Uuid,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase

from shared.auth import Ownership
from shared.db import Money, new_metadata
from shared.events import event_tables
from shared.events.columns import project_columns
from shared.events.publisher import Publisher
from shared.idempotency import idempotency_table


class Base(DeclarativeBase):
    metadata = new_metadata()


metadata = Base.metadata
events = event_tables(metadata)
publisher = Publisher("funding", events.outbox)
idempotency_keys = idempotency_table(metadata)

# Who reads a project's money: the lead unit, its co-builders, the jurisdiction's
# oversight roles (finance, authority, auditors, ...) and admins (shared.auth.access).
PROJECTS = Ownership(jurisdiction="jurisdiction", org="org", co_owners="co_orgs")


def _event_columns() -> list[Column[object]]:
    """The event that set the row: its type, id and time."""
    return [
        Column("event_type", Text, nullable=False),
        Column("event_id", Text, nullable=False),
        Column("event_time", DateTime(timezone=True), nullable=True),
    ]


# --- the projection -----------------------------------------------------------------------

projects = Table(
    "projects",
    metadata,
    *project_columns(),
    Column("approved_total", Money, nullable=True),
    Column("approved_annual_budgets", JSONB, nullable=False),  # [{year, amount}]
    Column("system_ids", ARRAY(Uuid), nullable=False, server_default="{}"),
    Column("version", Integer, nullable=False),
    *_event_columns(),
    Index("ix_projects_system_ids", "system_ids", postgresql_using="gin"),
    Index("ix_projects_jurisdiction_id", "jurisdiction", "id"),
)

systems = Table(
    "systems",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("org", Uuid, nullable=False),
    Column("jurisdiction", Text, nullable=False),
    Column("catalogued", Boolean, nullable=False),
    Column("data_shared", Boolean, nullable=False),
    Column("on_cloud", Boolean, nullable=False),
    Column("secure", Boolean, nullable=False),
    Column("version", Integer, nullable=False),
    *_event_columns(),
)

# Filings, acceptance results, rectification orders and evaluations: one row per
# subject (its latest version), each tied to its project.
records = Table(
    "records",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("kind", Text, nullable=False),
    Column("project_id", Uuid, nullable=False),
    Column("type", Text, nullable=False),  # filing type / order status / evaluation kind
    Column("passed", Boolean, nullable=True),
    Column("rule", Text, nullable=True),
    Column("version", Integer, nullable=False),
    *_event_columns(),
    CheckConstraint("kind IN ('filing','acceptance','rectification','evaluation')", name="kind"),
    Index("ix_records_project_id", "project_id"),
)

calendar_years = Table(
    "calendar_years",
    metadata,
    Column("year", Integer, primary_key=True),
    Column("holidays", ARRAY(Date), nullable=False),
    Column("workdays", ARRAY(Date), nullable=False),
    Column("source", Text, nullable=False),
    Column("version", Integer, nullable=False),
    *_event_columns(),
)

# The last decided state of each gate: a change of ``open`` is a flip, published.
gate_states = Table(
    "gate_states",
    metadata,
    Column("project_id", Uuid, nullable=False),
    Column("category", Text, nullable=False),
    Column("open", Boolean, nullable=False),
    Column("violations", JSONB, nullable=False),
    Column("version", Integer, nullable=False),  # raised at every flip
    Column("changed_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("project_id", "category"),
    CheckConstraint("category IN ('construction','operations')", name="category"),
)

# --- money ---------------------------------------------------------------------------------

allocation_plans = Table(
    "allocation_plans",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("jurisdiction", Text, nullable=False),
    Column("year", Integer, nullable=False),
    Column("published_on", Date, nullable=False),
    Column("effective_on", Date, nullable=False),
    Column("notice_workdays", Integer, nullable=False),
    Column("created_by", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("effective_on >= published_on", name="effective_after_published"),
)

allocation_items = Table(
    "allocation_items",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("plan_id", Uuid, ForeignKey("allocation_plans.id"), nullable=False),
    Column("project_id", Uuid, nullable=False),
    Column("category", Text, nullable=False),
    Column("year", Integer, nullable=False),
    Column("amount", Money, nullable=False),
    Column("effective_on", Date, nullable=False),
    CheckConstraint("amount > 0", name="amount_positive"),
    CheckConstraint("category IN ('construction','operations')", name="category"),
    Index("ix_allocation_items_project_id_year", "project_id", "year"),
)

# One row per project and budget year: what every disbursement locks and updates.
ledgers = Table(
    "ledgers",
    metadata,
    Column("project_id", Uuid, nullable=False),
    Column("year", Integer, nullable=False),
    Column("construction", Money, nullable=False, server_default="0"),
    Column("operations", Money, nullable=False, server_default="0"),
    # The approved annual budget when the row last moved: the last line of defence.
    Column("ceiling", Money, nullable=False),
    PrimaryKeyConstraint("project_id", "year"),
    CheckConstraint("construction >= 0 AND operations >= 0", name="not_negative"),
    CheckConstraint("construction + operations <= ceiling", name="within_ceiling"),
)

# One entry per movement: a disbursement (positive) or a surplus return (negative).
movements = Table(
    "movements",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("project_id", Uuid, nullable=False),
    Column("org", Uuid, nullable=False),
    Column("co_orgs", ARRAY(Uuid), nullable=False, server_default="{}"),
    Column("jurisdiction", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("category", Text, nullable=False),
    Column("year", Integer, nullable=False),
    Column("amount", Money, nullable=False),
    Column("reason", Text, nullable=True),
    Column("created_by", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    CheckConstraint(
        "(kind = 'disbursement' AND amount > 0) OR (kind = 'return' AND amount < 0)",
        name="signed_by_kind",
    ),
    CheckConstraint("category IN ('construction','operations')", name="category"),
    Index("ix_movements_project_id_id", "project_id", "id"),
    Index("ix_movements_jurisdiction_id", "jurisdiction", "id"),
)

# An administrator's public-notice length per profile (docs/funding.md).
notice_settings = Table(
    "notice_settings",
    metadata,
    Column("profile", Text, primary_key=True),
    Column("workdays", Integer, nullable=False),
    Column("changed_by", Text, nullable=False),
    Column("changed_at", DateTime(timezone=True), nullable=False),
    CheckConstraint("workdays BETWEEN 0 AND 60", name="workdays_range"),
)
