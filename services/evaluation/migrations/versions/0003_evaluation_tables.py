"""Evaluations, rectification orders (and their trail), questionnaires and answers,
unit assessments, spot checks, the Idempotency-Key store, and the projections of
approval's projects, the registry's units and filing's self-evaluation filings.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from shared.idempotency_migration import create_idempotency_table, drop_idempotency_table

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "projects",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("org", sa.Uuid(), nullable=False),
        sa.Column("co_orgs", postgresql.ARRAY(sa.Uuid()), nullable=False, server_default="{}"),
        sa.Column("jurisdiction", sa.Text(), nullable=False),
        sa.Column("profile", sa.Text(), nullable=False),
        sa.Column("profile_version", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
    )
    op.create_table(
        "units",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("jurisdiction", sa.Text(), nullable=False),
    )
    op.create_table(
        "self_evaluation_filings",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("org", sa.Uuid(), nullable=False),
        sa.Column("jurisdiction", sa.Text(), nullable=False),
        sa.Column("obligation_id", sa.Uuid(), nullable=True),
        sa.Column("event_date", sa.Date(), nullable=False),
        sa.Column("filed_on", sa.Date(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
    )
    op.create_index(
        "ix_self_evaluation_filings_project_id", "self_evaluation_filings", ["project_id"]
    )
    op.create_table(
        "calendar_years",
        sa.Column("year", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("holidays", postgresql.ARRAY(sa.Date()), nullable=False),
        sa.Column("workdays", postgresql.ARRAY(sa.Date()), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
    )
    op.create_table(
        "evaluations",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("project_id", sa.Uuid(), nullable=True),
        sa.Column("org", sa.Uuid(), nullable=False),
        sa.Column("jurisdiction", sa.Text(), nullable=False),
        sa.Column("profile", sa.Text(), nullable=False),
        sa.Column("profile_version", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("method", sa.Text(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("scores", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("total_score", sa.Numeric(5, 2), nullable=True),
        sa.Column("grade", sa.Text(), nullable=True),
        sa.Column("failing", sa.Boolean(), nullable=False),
        sa.Column("filing_id", sa.Uuid(), nullable=True),
        sa.Column("obligation_id", sa.Uuid(), nullable=True),
        sa.Column("completed_on", sa.Date(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", _TZ, nullable=False),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.CheckConstraint(
            "kind IN ('self','post','efficacy','unit_annual')", name=op.f("ck_evaluations_kind")
        ),
        sa.CheckConstraint(
            "method IN ('document_review','third_party','questionnaire')",
            name=op.f("ck_evaluations_method"),
        ),
        sa.CheckConstraint("status IN ('pending','completed')", name=op.f("ck_evaluations_status")),
    )
    op.create_index("ix_evaluations_jurisdiction_id", "evaluations", ["jurisdiction", "id"])
    op.create_index("ix_evaluations_org_id", "evaluations", ["org", "id"])
    op.create_index("ix_evaluations_project_id", "evaluations", ["project_id", "id"])
    op.create_index(
        "ix_evaluations_jurisdiction_kind_year", "evaluations", ["jurisdiction", "kind", "year"]
    )
    op.create_index(
        "uq_evaluations_filing_id",
        "evaluations",
        ["filing_id"],
        unique=True,
        postgresql_where=sa.text("filing_id IS NOT NULL"),
    )
    op.create_table(
        "rectifications",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("org", sa.Uuid(), nullable=False),
        sa.Column("jurisdiction", sa.Text(), nullable=False),
        sa.Column("profile", sa.Text(), nullable=False),
        sa.Column("profile_version", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=True),
        sa.Column("ordered_on", sa.Date(), nullable=True),
        sa.Column("suggested_on", sa.Date(), nullable=True),
        sa.Column("rule", sa.Text(), nullable=False),
        sa.Column("evidence", sa.Text(), nullable=True),
        sa.Column("obligation_id", sa.Uuid(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", _TZ, nullable=False),
        sa.Column("updated_at", _TZ, nullable=False),
        sa.CheckConstraint(
            "reason IN ('built_against_approval','unauthorised_change','acceptance_delayed',"
            "'data_not_shared','security_noncompliant')",
            name=op.f("ck_rectifications_reason"),
        ),
        sa.CheckConstraint(
            "status IN ('suggested','open','escalated','resolved','termination_requested',"
            "'dismissed')",
            name=op.f("ck_rectifications_status"),
        ),
    )
    op.create_index("ix_rectifications_jurisdiction_id", "rectifications", ["jurisdiction", "id"])
    op.create_index("ix_rectifications_org_id", "rectifications", ["org", "id"])
    op.create_index("ix_rectifications_project_id", "rectifications", ["project_id", "id"])
    op.create_index(
        "uq_rectifications_obligation_id",
        "rectifications",
        ["obligation_id"],
        unique=True,
        postgresql_where=sa.text("obligation_id IS NOT NULL"),
    )
    op.create_table(
        "rectification_revisions",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column(
            "rectification_id", sa.Uuid(), sa.ForeignKey("rectifications.id"), nullable=False
        ),
        sa.Column("at", _TZ, nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("actor_org", sa.Text(), nullable=False),
        sa.Column("changes", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    )
    op.create_index(
        "ix_rectification_revisions_rectification_id_at",
        "rectification_revisions",
        ["rectification_id", "at", "id"],
    )
    op.create_table(
        "questionnaires",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("evaluation_id", sa.Uuid(), nullable=False, unique=True),
        sa.Column("jurisdiction", sa.Text(), nullable=False),
        sa.Column("org", sa.Uuid(), nullable=False),
        sa.Column("opens_on", sa.Date(), nullable=False),
        sa.Column("closes_on", sa.Date(), nullable=False),
        sa.Column("respondents", sa.Integer(), nullable=False),
        sa.Column("secret", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", _TZ, nullable=False),
    )
    op.create_table(
        "questionnaire_answers",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("questionnaire_id", sa.Uuid(), nullable=False),
        sa.Column("token_digest", sa.LargeBinary(), nullable=False),
        sa.Column("satisfaction", sa.SmallInteger(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("submitted_at", _TZ, nullable=False),
        sa.UniqueConstraint(
            "questionnaire_id", "token_digest", name="uq_questionnaire_answers_token"
        ),
        sa.CheckConstraint(
            "satisfaction BETWEEN 1 AND 5", name=op.f("ck_questionnaire_answers_satisfaction")
        ),
    )
    op.create_table(
        "assessments",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("org", sa.Uuid(), nullable=False),
        sa.Column("jurisdiction", sa.Text(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("score", sa.Numeric(5, 2), nullable=False),
        sa.Column("grade", sa.Text(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", _TZ, nullable=False),
        sa.UniqueConstraint("org", "year", name="uq_assessments_org_year"),
    )
    op.create_index("ix_assessments_jurisdiction_id", "assessments", ["jurisdiction", "id"])
    op.create_table(
        "spot_checks",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("jurisdiction", sa.Text(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("seed", sa.Text(), nullable=False),
        sa.Column("sample", postgresql.ARRAY(sa.Uuid()), nullable=False),
        sa.Column("created_at", _TZ, nullable=False),
        sa.Column("created_by", sa.Text(), nullable=False),
    )
    create_idempotency_table()


def downgrade() -> None:
    drop_idempotency_table()
    for table in (
        "spot_checks",
        "assessments",
        "questionnaire_answers",
        "questionnaires",
        "rectification_revisions",
        "rectifications",
        "evaluations",
        "calendar_years",
        "self_evaluation_filings",
        "units",
        "projects",
    ):
        op.drop_table(table)
