"""The funding tables: the projection of other services' events, the gate states,
allocation plans, the ledger (one row per project and year, CHECKed) and its
entries, the public-notice settings, and the Idempotency-Key store.

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


def upgrade() -> None:
    op.create_table(
        "allocation_plans",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("jurisdiction", sa.Text(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("published_on", sa.Date(), nullable=False),
        sa.Column("effective_on", sa.Date(), nullable=False),
        sa.Column("notice_workdays", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "effective_on >= published_on",
            name=op.f("ck_allocation_plans_effective_after_published"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_allocation_plans")),
    )
    op.create_table(
        "calendar_years",
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("holidays", sa.ARRAY(sa.Date()), nullable=False),
        sa.Column("workdays", sa.ARRAY(sa.Date()), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("event_type", sa.Text(), nullable=False),
        sa.Column("event_id", sa.Text(), nullable=False),
        sa.Column("event_time", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("year", name=op.f("pk_calendar_years")),
    )
    op.create_table(
        "gate_states",
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("category", sa.Text(), nullable=False),
        sa.Column("open", sa.Boolean(), nullable=False),
        sa.Column("violations", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "category IN ('construction','operations')", name=op.f("ck_gate_states_category")
        ),
        sa.PrimaryKeyConstraint("project_id", "category", name=op.f("pk_gate_states")),
    )
    create_idempotency_table()
    op.create_table(
        "ledgers",
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column(
            "construction",
            sa.Numeric(18, 2),
            server_default="0",
            nullable=False,
        ),
        sa.Column(
            "operations",
            sa.Numeric(18, 2),
            server_default="0",
            nullable=False,
        ),
        sa.Column("ceiling", sa.Numeric(18, 2), nullable=False),
        sa.CheckConstraint(
            "construction + operations <= ceiling", name=op.f("ck_ledgers_within_ceiling")
        ),
        sa.CheckConstraint(
            "construction >= 0 AND operations >= 0", name=op.f("ck_ledgers_not_negative")
        ),
        sa.PrimaryKeyConstraint("project_id", "year", name=op.f("pk_ledgers")),
    )
    op.create_table(
        "movements",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("org", sa.Uuid(), nullable=False),
        sa.Column("co_orgs", sa.ARRAY(sa.Uuid()), server_default="{}", nullable=False),
        sa.Column("jurisdiction", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("category", sa.Text(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("amount", sa.Numeric(18, 2), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(kind = 'disbursement' AND amount > 0) OR (kind = 'return' AND amount < 0)",
            name=op.f("ck_movements_signed_by_kind"),
        ),
        sa.CheckConstraint(
            "category IN ('construction','operations')", name=op.f("ck_movements_category")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_movements")),
    )
    op.create_index(
        "ix_movements_jurisdiction_id", "movements", ["jurisdiction", "id"], unique=False
    )
    op.create_index("ix_movements_project_id_id", "movements", ["project_id", "id"], unique=False)
    op.create_table(
        "notice_settings",
        sa.Column("profile", sa.Text(), nullable=False),
        sa.Column("workdays", sa.Integer(), nullable=False),
        sa.Column("changed_by", sa.Text(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "workdays BETWEEN 0 AND 60", name=op.f("ck_notice_settings_workdays_range")
        ),
        sa.PrimaryKeyConstraint("profile", name=op.f("pk_notice_settings")),
    )
    op.create_table(
        "projects",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("org", sa.Uuid(), nullable=False),
        sa.Column("co_orgs", sa.ARRAY(sa.Uuid()), server_default="{}", nullable=False),
        sa.Column("jurisdiction", sa.Text(), nullable=False),
        sa.Column("profile", sa.Text(), nullable=False),
        sa.Column("profile_version", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("approved_total", sa.Numeric(18, 2), nullable=True),
        sa.Column(
            "approved_annual_budgets", postgresql.JSONB(astext_type=sa.Text()), nullable=False
        ),
        sa.Column("system_ids", sa.ARRAY(sa.Uuid()), server_default="{}", nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("event_type", sa.Text(), nullable=False),
        sa.Column("event_id", sa.Text(), nullable=False),
        sa.Column("event_time", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_projects")),
    )
    op.create_index("ix_projects_jurisdiction_id", "projects", ["jurisdiction", "id"], unique=False)
    op.create_index(
        "ix_projects_system_ids", "projects", ["system_ids"], unique=False, postgresql_using="gin"
    )
    op.create_table(
        "records",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("passed", sa.Boolean(), nullable=True),
        sa.Column("rule", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("event_type", sa.Text(), nullable=False),
        sa.Column("event_id", sa.Text(), nullable=False),
        sa.Column("event_time", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "kind IN ('filing','acceptance','rectification','evaluation')",
            name=op.f("ck_records_kind"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_records")),
    )
    op.create_index("ix_records_project_id", "records", ["project_id"], unique=False)
    op.create_table(
        "systems",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("org", sa.Uuid(), nullable=False),
        sa.Column("jurisdiction", sa.Text(), nullable=False),
        sa.Column("catalogued", sa.Boolean(), nullable=False),
        sa.Column("data_shared", sa.Boolean(), nullable=False),
        sa.Column("on_cloud", sa.Boolean(), nullable=False),
        sa.Column("secure", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("event_type", sa.Text(), nullable=False),
        sa.Column("event_id", sa.Text(), nullable=False),
        sa.Column("event_time", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_systems")),
    )
    op.create_table(
        "allocation_items",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("plan_id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("category", sa.Text(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("amount", sa.Numeric(18, 2), nullable=False),
        sa.Column("effective_on", sa.Date(), nullable=False),
        sa.CheckConstraint(
            "category IN ('construction','operations')", name=op.f("ck_allocation_items_category")
        ),
        sa.CheckConstraint("amount > 0", name=op.f("ck_allocation_items_amount_positive")),
        sa.ForeignKeyConstraint(
            ["plan_id"],
            ["allocation_plans.id"],
            name=op.f("fk_allocation_items_plan_id_allocation_plans"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_allocation_items")),
    )
    op.create_index(
        "ix_allocation_items_project_id_year",
        "allocation_items",
        ["project_id", "year"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_allocation_items_project_id_year", table_name="allocation_items")
    op.drop_table("allocation_items")
    op.drop_table("systems")
    op.drop_index("ix_records_project_id", table_name="records")
    op.drop_table("records")
    op.drop_index("ix_projects_system_ids", table_name="projects", postgresql_using="gin")
    op.drop_index("ix_projects_jurisdiction_id", table_name="projects")
    op.drop_table("projects")
    op.drop_table("notice_settings")
    op.drop_index("ix_movements_project_id_id", table_name="movements")
    op.drop_index("ix_movements_jurisdiction_id", table_name="movements")
    op.drop_table("movements")
    op.drop_table("ledgers")
    drop_idempotency_table()
    op.drop_table("gate_states")
    op.drop_table("calendar_years")
    op.drop_table("allocation_plans")
