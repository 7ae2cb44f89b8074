"""The evaluation service's tables (its own database).

Its own records: evaluations, rectification orders (with their revision trail),
questionnaires and their answers, unit assessments and spot checks. Projections of
other services' events: approval's projects, the registry's units and filing's
self-evaluation filings (docs/event-payloads.md).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    ARRAY,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    SmallInteger,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import new_metadata
from shared.events import event_tables
from shared.events.columns import project_columns
from shared.events.publisher import Publisher
from shared.idempotency import idempotency_table
from shared.revisions import revision_table


class Base(DeclarativeBase):
    metadata = new_metadata()


events = event_tables(Base.metadata)
publisher = Publisher("evaluation", events.outbox)  # source /govit/evaluation
idempotency_keys = idempotency_table(Base.metadata)

# --- projections of other services' events ---------------------------------------------

# govit.approval.project.*: the project (columns named like the event's data).
projects = Table(
    "projects",
    Base.metadata,
    *project_columns(),
    Column("version", Integer, nullable=False),
)

# govit.registry.unit.registered: the unit directory (a unit never changes jurisdiction).
units = Table(
    "units",
    Base.metadata,
    Column("id", Uuid, primary_key=True),
    Column("name", Text, nullable=False),
    Column("jurisdiction", Text, nullable=False),
)

# govit.filing.self_evaluation.filed: the filing and the obligation it met.
self_evaluation_filings = Table(
    "self_evaluation_filings",
    Base.metadata,
    Column("id", Uuid, primary_key=True),
    Column("project_id", Uuid, nullable=False, index=True),
    Column("org", Uuid, nullable=False),
    Column("jurisdiction", Text, nullable=False),
    Column("obligation_id", Uuid),
    Column("event_date", Date, nullable=False),
    Column("filed_on", Date, nullable=False),
    Column("version", Integer, nullable=False),
)

# govit.filing.calendar.loaded: a year's official schedule (holidays, adjusted workdays),
# kept for counting working days where a rule ever needs them.
calendar_years = Table(
    "calendar_years",
    Base.metadata,
    Column("year", Integer, primary_key=True, autoincrement=False),
    Column("holidays", ARRAY(Date), nullable=False),
    Column("workdays", ARRAY(Date), nullable=False),
    Column("source", Text, nullable=False),
    Column("version", Integer, nullable=False),
)


# --- evaluations ------------------------------------------------------------------------


class Evaluation(Base):
    __tablename__ = "evaluations"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    project_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    org: Mapped[uuid.UUID] = mapped_column(Uuid)
    # The project's co-builders (migration 0004): they read what their project gets.
    co_orgs: Mapped[list[uuid.UUID]] = mapped_column(ARRAY(Uuid), server_default="{}")
    jurisdiction: Mapped[str] = mapped_column(Text)
    profile: Mapped[str] = mapped_column(Text)
    profile_version: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(Text)
    method: Mapped[str] = mapped_column(Text)
    year: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(Text)  # pending (owes a questionnaire) | completed
    scores: Mapped[dict[str, Any]] = mapped_column(JSONB)  # {dimension: "decimal"}
    total_score: Mapped[Decimal | None] = mapped_column(Numeric(5, 2))
    grade: Mapped[str | None] = mapped_column(Text)
    failing: Mapped[bool] = mapped_column(Boolean)
    filing_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    obligation_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    completed_on: Mapped[date | None] = mapped_column(Date)
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(Text)

    __table_args__ = (
        CheckConstraint("kind IN ('self','post','efficacy','unit_annual')", name="kind"),
        CheckConstraint(
            "method IN ('document_review','third_party','questionnaire')", name="method"
        ),
        CheckConstraint("status IN ('pending','completed')", name="status"),
        Index("ix_evaluations_jurisdiction_id", "jurisdiction", "id"),
        Index("ix_evaluations_org_id", "org", "id"),
        Index("ix_evaluations_project_id", "project_id", "id"),
        Index("ix_evaluations_jurisdiction_kind_year", "jurisdiction", "kind", "year"),
        # One self-evaluation per filing (the obligation it meets).
        Index(
            "uq_evaluations_filing_id",
            "filing_id",
            unique=True,
            postgresql_where=text("filing_id IS NOT NULL"),
        ),
    )


# --- rectification orders ------------------------------------------------------------------


class Rectification(Base):
    __tablename__ = "rectifications"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    project_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    org: Mapped[uuid.UUID] = mapped_column(Uuid)
    co_orgs: Mapped[list[uuid.UUID]] = mapped_column(ARRAY(Uuid), server_default="{}")
    jurisdiction: Mapped[str] = mapped_column(Text)
    profile: Mapped[str] = mapped_column(Text)
    profile_version: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text)
    due_on: Mapped[date | None] = mapped_column(Date)  # None while only suggested
    ordered_on: Mapped[date | None] = mapped_column(Date)  # None while only suggested
    suggested_on: Mapped[date | None] = mapped_column(Date)
    rule: Mapped[str] = mapped_column(Text)
    evidence: Mapped[str | None] = mapped_column(Text)
    obligation_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        CheckConstraint(
            "reason IN ('built_against_approval','unauthorised_change','acceptance_delayed',"
            "'data_not_shared','security_noncompliant')",
            name="reason",
        ),
        CheckConstraint(
            "status IN ('suggested','open','escalated','resolved','termination_requested',"
            "'dismissed')",
            name="status",
        ),
        Index("ix_rectifications_jurisdiction_id", "jurisdiction", "id"),
        Index("ix_rectifications_org_id", "org", "id"),
        Index("ix_rectifications_project_id", "project_id", "id"),
        # A missed acceptance obligation suggests one order, however often it is told.
        Index(
            "uq_rectifications_obligation_id",
            "obligation_id",
            unique=True,
            postgresql_where=text("obligation_id IS NOT NULL"),
        ),
    )


rectification_revisions = revision_table(
    Base.metadata, "rectification_revisions", "rectification_id", references="rectifications.id"
)


# --- questionnaires ------------------------------------------------------------------------


class Questionnaire(Base):
    __tablename__ = "questionnaires"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    evaluation_id: Mapped[uuid.UUID] = mapped_column(Uuid, unique=True)
    jurisdiction: Mapped[str] = mapped_column(Text)
    org: Mapped[uuid.UUID] = mapped_column(Uuid)
    opens_on: Mapped[date] = mapped_column(Date)
    closes_on: Mapped[date] = mapped_column(Date)
    respondents: Mapped[int] = mapped_column(Integer)  # tokens handed out
    secret: Mapped[bytes] = mapped_column(LargeBinary)  # the tokens' HMAC key, never sent
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


questionnaire_answers = Table(
    "questionnaire_answers",
    Base.metadata,
    Column("id", Uuid, primary_key=True),
    Column("questionnaire_id", Uuid, nullable=False),
    # SHA-256 of the token's nonce: the token is spent, and nothing links it to a person.
    Column("token_digest", LargeBinary, nullable=False),
    Column("satisfaction", SmallInteger, nullable=False),
    Column("comment", Text),
    Column("submitted_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("questionnaire_id", "token_digest", name="uq_questionnaire_answers_token"),
    CheckConstraint("satisfaction BETWEEN 1 AND 5", name="satisfaction"),
)


# --- unit assessments and spot checks ---------------------------------------------------------


class Assessment(Base):
    __tablename__ = "assessments"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    org: Mapped[uuid.UUID] = mapped_column(Uuid)
    jurisdiction: Mapped[str] = mapped_column(Text)
    year: Mapped[int] = mapped_column(Integer)
    score: Mapped[Decimal] = mapped_column(Numeric(5, 2))
    grade: Mapped[str] = mapped_column(Text)
    comment: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        UniqueConstraint("org", "year", name="uq_assessments_org_year"),
        Index("ix_assessments_jurisdiction_id", "jurisdiction", "id"),
    )


class SpotCheck(Base):
    __tablename__ = "spot_checks"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    jurisdiction: Mapped[str] = mapped_column(Text)
    year: Mapped[int] = mapped_column(Integer)
    size: Mapped[int] = mapped_column(Integer)
    seed: Mapped[str] = mapped_column(Text)
    sample: Mapped[list[uuid.UUID]] = mapped_column(ARRAY(Uuid))
    # The self-evaluations it was drawn from (null: drawn before it was recorded).
    population: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(Text)
