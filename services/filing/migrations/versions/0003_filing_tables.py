"""Filings, obligations, acceptances, the project projection, loaded calendar years
and the Idempotency-Key store.

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

_JSONB = postgresql.JSONB(astext_type=sa.Text())


def upgrade() -> None:
    op.create_table(
        "projects",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("org", sa.Uuid(), nullable=False),
        sa.Column("co_orgs", postgresql.ARRAY(sa.Uuid()), server_default="{}", nullable=False),
        sa.Column("jurisdiction", sa.Text(), nullable=False),
        sa.Column("profile", sa.Text(), nullable=False),
        sa.Column("profile_version", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("delivery", sa.Text(), nullable=True),
        sa.Column("planned_completion_on", sa.Date(), nullable=True),
        sa.Column("approved_on", sa.Date(), nullable=True),
        sa.Column("approved_annual_budgets", _JSONB, server_default="[]", nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_projects")),
    )
    op.create_index(op.f("ix_projects_org"), "projects", ["org"], unique=False)
    op.create_table(
        "filings",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("org", sa.Uuid(), nullable=False),
        sa.Column("jurisdiction", sa.Text(), nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("event_date", sa.Date(), nullable=False),
        sa.Column("filed_on", sa.Date(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=True),
        sa.Column("on_time", sa.Boolean(), nullable=True),
        sa.Column("obligation_id", sa.Uuid(), nullable=True),
        sa.Column("documents", _JSONB, nullable=False),
        sa.Column("passed", sa.Boolean(), nullable=True),
        sa.Column("trial_run_started_on", sa.Date(), nullable=True),
        sa.Column("catalogue_joined", sa.Boolean(), nullable=True),
        sa.Column("secure_controllable", sa.Boolean(), nullable=True),
        sa.Column("details", _JSONB, server_default="{}", nullable=False),
        sa.Column("review", _JSONB, nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("filed_by", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "type IN ('contract','supervisor','acceptance','self_evaluation',"
            "'performance_monitoring','progress','acceptance_delay','handover')",
            name=op.f("ck_filings_type"),
        ),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_filings_project_id_projects")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_filings")),
    )
    op.create_index(op.f("ix_filings_project_id"), "filings", ["project_id"], unique=False)
    op.create_index("ix_filings_jurisdiction_org", "filings", ["jurisdiction", "org"])
    op.create_table(
        "acceptances",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("org", sa.Uuid(), nullable=False),
        sa.Column("jurisdiction", sa.Text(), nullable=False),
        sa.Column("accepted_on", sa.Date(), nullable=False),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("opinion", sa.Text(), nullable=True),
        sa.Column("filing_id", sa.Uuid(), nullable=True),
        sa.Column("recorded_by", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_acceptances_project_id_projects")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_acceptances")),
    )
    op.create_index(op.f("ix_acceptances_project_id"), "acceptances", ["project_id"], unique=False)
    op.create_table(
        "obligations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("org", sa.Uuid(), nullable=False),
        sa.Column("jurisdiction", sa.Text(), nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("period", sa.Text(), server_default="", nullable=False),
        sa.Column("rule", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=True),
        sa.Column("counted_from", sa.Date(), nullable=True),
        sa.Column("workdays", sa.Integer(), nullable=True),
        sa.Column("met_by", sa.Uuid(), nullable=True),
        sa.Column("next_check_on", sa.Date(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('open','met','missed','pending_calendar')",
            name=op.f("ck_obligations_status"),
        ),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_obligations_project_id_projects")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_obligations")),
    )
    op.create_index(
        "uq_obligations_project_id_type_period",
        "obligations",
        ["project_id", "type", "period"],
        unique=True,
    )
    # The scheduler's stored next-check time: only open obligations are ever due a check.
    op.create_index(
        "ix_obligations_next_check_on",
        "obligations",
        ["next_check_on"],
        postgresql_where=sa.text("status = 'open'"),
    )
    op.create_index("ix_obligations_jurisdiction_org", "obligations", ["jurisdiction", "org"])
    op.create_table(
        "calendar_years",
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("holidays", _JSONB, nullable=False),
        sa.Column("workdays", _JSONB, nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("loaded_by", sa.Text(), nullable=False),
        sa.Column("loaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("year", name=op.f("pk_calendar_years")),
    )
    create_idempotency_table()


def downgrade() -> None:
    drop_idempotency_table()
    op.drop_table("calendar_years")
    op.drop_table("obligations")
    op.drop_table("acceptances")
    op.drop_table("filings")
    op.drop_table("projects")
