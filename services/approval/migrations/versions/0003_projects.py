"""Projects and what hangs off them; number counters; projections; sanctions.

Projects, materials, opinions, reviews, changes and history; the number counter per
jurisdiction and year; the projections of registry and evaluation events; unit
sanctions; the Idempotency-Key store (``shared.idempotency.idempotency_table``).

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
        "catalogued_systems",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("org", sa.Uuid(), nullable=False),
        sa.Column("jurisdiction", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("resource_count", sa.Integer(), nullable=False),
        sa.Column("facts", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalogued_systems")),
    )
    create_idempotency_table()
    op.create_table(
        "known_units",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("jurisdiction", sa.Text(), nullable=False),
        sa.Column("parent", sa.Uuid(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_known_units")),
    )
    op.create_table(
        "project_numbers",
        sa.Column("jurisdiction", sa.Text(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("last", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("jurisdiction", "year", name=op.f("pk_project_numbers")),
    )
    op.create_table(
        "projects",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("co_orgs", postgresql.ARRAY(sa.Uuid()), nullable=False),
        sa.Column("jurisdiction", sa.Text(), nullable=False),
        sa.Column("profile", sa.Text(), nullable=False),
        sa.Column("profile_version", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("number", sa.Text(), nullable=True),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("suspended_from", sa.Text(), nullable=True),
        sa.Column("delivery", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("total_investment", sa.Numeric(precision=18, scale=2), nullable=False),
        sa.Column("annual_budgets", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("approved_total", sa.Numeric(precision=18, scale=2), nullable=True),
        sa.Column(
            "approved_annual_budgets", postgresql.JSONB(astext_type=sa.Text()), nullable=False
        ),
        sa.Column("system_ids", postgresql.ARRAY(sa.Uuid()), nullable=False),
        sa.Column("declarations", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("merged_plan_ground", sa.Text(), nullable=True),
        sa.Column("planned_completion_on", sa.Date(), nullable=True),
        sa.Column("approved_on", sa.Date(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "delivery IN ('self_build', 'purchase_service')", name=op.f("ck_projects_delivery")
        ),
        sa.CheckConstraint(
            "kind IN ('new', 'upgrade', 'operations')", name=op.f("ck_projects_kind")
        ),
        sa.CheckConstraint(
            "status IN ('draft', 'submitted', 'approved', 'rejected', 'in_construction',"
            " 'accepted', 'in_operation', 'suspended', 'terminated')",
            name=op.f("ck_projects_status"),
        ),
        sa.CheckConstraint(
            "approved_total IS NULL OR approved_total >= 0", name=op.f("ck_projects_approved_total")
        ),
        sa.CheckConstraint("total_investment >= 0", name=op.f("ck_projects_total_investment")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_projects")),
        sa.UniqueConstraint("number", name=op.f("uq_projects_number")),
    )
    op.create_index(
        "ix_projects_co_orgs", "projects", ["co_orgs"], unique=False, postgresql_using="gin"
    )
    op.create_index("ix_projects_jurisdiction_id", "projects", ["jurisdiction", "id"], unique=False)
    op.create_index("ix_projects_org_id_id", "projects", ["org_id", "id"], unique=False)
    op.create_index(
        "ix_projects_system_ids", "projects", ["system_ids"], unique=False, postgresql_using="gin"
    )
    op.create_table(
        "rectification_orders",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("org", sa.Uuid(), nullable=False),
        sa.Column("jurisdiction", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("rule", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rectification_orders")),
    )
    op.create_index(
        op.f("ix_rectification_orders_project_id"),
        "rectification_orders",
        ["project_id"],
        unique=False,
    )
    op.create_table(
        "unit_assessments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("org", sa.Uuid(), nullable=False),
        sa.Column("jurisdiction", sa.Text(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("score", sa.Numeric(precision=6, scale=2), nullable=True),
        sa.Column("grade", sa.Text(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_unit_assessments")),
    )
    op.create_index(
        "ix_unit_assessments_org_year", "unit_assessments", ["org", "year"], unique=False
    )
    op.create_table(
        "unit_sanctions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("org", sa.Uuid(), nullable=False),
        sa.Column("jurisdiction", sa.Text(), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=True),
        sa.Column("trigger", sa.Text(), nullable=False),
        sa.Column("rule", sa.Text(), nullable=False),
        sa.Column("from_year", sa.Integer(), nullable=False),
        sa.Column("until_year", sa.Integer(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("cause", sa.Text(), nullable=False),
        sa.Column("imposed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_unit_sanctions")),
    )
    op.create_index(op.f("ix_unit_sanctions_org"), "unit_sanctions", ["org"], unique=False)
    op.create_table(
        "project_changes",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("classification", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("new_total", sa.Numeric(precision=18, scale=2), nullable=False),
        sa.Column("adjusted_amount", sa.Numeric(precision=18, scale=2), nullable=False),
        sa.Column("goals_changed", sa.Boolean(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("annual_budgets", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("rule", sa.Text(), nullable=True),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "classification IN ('self_adjustment', 'major_change')",
            name=op.f("ck_project_changes_class"),
        ),
        sa.CheckConstraint(
            "status IN ('recorded', 'pending', 'approved', 'rejected')",
            name=op.f("ck_project_changes_st"),
        ),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_project_changes_project_id_projects")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_project_changes")),
    )
    op.create_index(
        op.f("ix_project_changes_project_id"), "project_changes", ["project_id"], unique=False
    )
    op.create_table(
        "project_history",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("actor_org", sa.Text(), nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("rule", sa.Text(), nullable=True),
        sa.Column("cause", sa.Text(), nullable=True),
        sa.Column("cause_id", sa.Text(), nullable=True),
        sa.Column("changes", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_project_history_project_id_projects")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_project_history")),
    )
    op.create_index(
        "ix_project_history_project_id_at",
        "project_history",
        ["project_id", "at", "id"],
        unique=False,
    )
    op.create_table(
        "project_materials",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("sha256", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_project_materials_project_id_projects")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_project_materials")),
    )
    op.create_index(
        op.f("ix_project_materials_project_id"), "project_materials", ["project_id"], unique=False
    )
    op.create_table(
        "project_opinions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("topic", sa.Text(), nullable=False),
        sa.Column("verdict", sa.Text(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_project_opinions_project_id_projects")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_project_opinions")),
    )
    op.create_index(
        op.f("ix_project_opinions_project_id"), "project_opinions", ["project_id"], unique=False
    )
    op.create_table(
        "project_reviews",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("need", sa.SmallInteger(), nullable=False),
        sa.Column("intensiveness", sa.SmallInteger(), nullable=False),
        sa.Column("feasibility", sa.SmallInteger(), nullable=False),
        sa.Column("budget", sa.SmallInteger(), nullable=False),
        sa.Column("performance_goals", sa.SmallInteger(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_project_reviews_project_id_projects")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_project_reviews")),
    )
    op.create_index(
        op.f("ix_project_reviews_project_id"), "project_reviews", ["project_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_project_reviews_project_id"), table_name="project_reviews")
    op.drop_table("project_reviews")
    op.drop_index(op.f("ix_project_opinions_project_id"), table_name="project_opinions")
    op.drop_table("project_opinions")
    op.drop_index(op.f("ix_project_materials_project_id"), table_name="project_materials")
    op.drop_table("project_materials")
    op.drop_index("ix_project_history_project_id_at", table_name="project_history")
    op.drop_table("project_history")
    op.drop_index(op.f("ix_project_changes_project_id"), table_name="project_changes")
    op.drop_table("project_changes")
    op.drop_index(op.f("ix_unit_sanctions_org"), table_name="unit_sanctions")
    op.drop_table("unit_sanctions")
    op.drop_index("ix_unit_assessments_org_year", table_name="unit_assessments")
    op.drop_table("unit_assessments")
    op.drop_index(op.f("ix_rectification_orders_project_id"), table_name="rectification_orders")
    op.drop_table("rectification_orders")
    op.drop_index("ix_projects_system_ids", table_name="projects", postgresql_using="gin")
    op.drop_index("ix_projects_org_id_id", table_name="projects")
    op.drop_index("ix_projects_jurisdiction_id", table_name="projects")
    op.drop_index("ix_projects_co_orgs", table_name="projects", postgresql_using="gin")
    op.drop_table("projects")
    op.drop_table("project_numbers")
    op.drop_table("known_units")
    drop_idempotency_table()
    op.drop_table("catalogued_systems")
