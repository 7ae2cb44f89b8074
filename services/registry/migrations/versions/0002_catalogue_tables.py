"""The system catalogue: units, systems, resources, revisions.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Free-text search on system names (q=) uses a trigram GIN index.
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.create_table(
        "units",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("jurisdiction", sa.Text(), nullable=False),
        sa.Column("parent_id", sa.Uuid(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(["parent_id"], ["units.id"], name=op.f("fk_units_parent_id_units")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_units")),
    )
    op.create_index(op.f("ix_units_jurisdiction"), "units", ["jurisdiction"], unique=False)
    op.create_table(
        "systems",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("jurisdiction", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("network", sa.Text(), nullable=False),
        sa.Column("cloud", sa.Text(), nullable=False),
        sa.Column("cloud_exempt_reason", sa.Text(), nullable=True),
        sa.Column("private_network_approval", sa.Text(), nullable=True),
        sa.Column("sharing_connected", sa.Boolean(), nullable=False),
        sa.Column("mlps_level", sa.SmallInteger(), nullable=True),
        sa.Column("crypto_assessed", sa.Boolean(), nullable=False),
        sa.Column("asset_registered", sa.Boolean(), nullable=False),
        sa.Column("resource_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("shared_resource_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "cloud IN ('on_cloud','migrating','not_migrated','exempt')",
            name=op.f("ck_systems_cloud"),
        ),
        sa.CheckConstraint(
            "network IN ('extranet','intranet','internet','private')",
            name=op.f("ck_systems_network"),
        ),
        sa.CheckConstraint(
            "status IN ('planned','building','operating','retired')", name=op.f("ck_systems_status")
        ),
        sa.CheckConstraint("mlps_level BETWEEN 1 AND 5", name=op.f("ck_systems_mlps_level")),
        sa.ForeignKeyConstraint(["org_id"], ["units.id"], name=op.f("fk_systems_org_id_units")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_systems")),
    )
    op.create_index(
        "ix_systems_jurisdiction_cloud_id", "systems", ["jurisdiction", "cloud", "id"], unique=False
    )
    op.create_index("ix_systems_jurisdiction_id", "systems", ["jurisdiction", "id"], unique=False)
    op.create_index(
        "ix_systems_jurisdiction_status_id",
        "systems",
        ["jurisdiction", "status", "id"],
        unique=False,
    )
    op.create_index(
        "ix_systems_name_trgm",
        "systems",
        ["name"],
        unique=False,
        postgresql_using="gin",
        postgresql_ops={"name": "gin_trgm_ops"},
    )
    op.create_index("ix_systems_org_id_id", "systems", ["org_id", "id"], unique=False)
    op.create_table(
        "resources",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("system_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("format", sa.Text(), nullable=False),
        sa.Column("update_frequency", sa.Text(), nullable=False),
        sa.Column("share_type", sa.Text(), nullable=False),
        sa.Column("open_type", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "open_type IN ('open','conditional','none')", name=op.f("ck_resources_open_type")
        ),
        sa.CheckConstraint(
            "share_type IN ('unconditional','conditional','none')",
            name=op.f("ck_resources_share_type"),
        ),
        sa.ForeignKeyConstraint(
            ["system_id"], ["systems.id"], name=op.f("fk_resources_system_id_systems")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_resources")),
    )
    op.create_index(op.f("ix_resources_system_id"), "resources", ["system_id"], unique=False)
    op.create_table(
        "system_revisions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("system_id", sa.Uuid(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("actor_org", sa.Text(), nullable=False),
        sa.Column("changes", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.ForeignKeyConstraint(
            ["system_id"], ["systems.id"], name=op.f("fk_system_revisions_system_id_systems")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_system_revisions")),
    )
    op.create_index(
        "ix_system_revisions_system_id_at",
        "system_revisions",
        ["system_id", "at", "id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_system_revisions_system_id_at", table_name="system_revisions")
    op.drop_table("system_revisions")
    op.drop_index(op.f("ix_resources_system_id"), table_name="resources")
    op.drop_table("resources")
    op.drop_index("ix_systems_org_id_id", table_name="systems")
    op.drop_index(
        "ix_systems_name_trgm",
        table_name="systems",
        postgresql_using="gin",
        postgresql_ops={"name": "gin_trgm_ops"},
    )
    op.drop_index("ix_systems_jurisdiction_status_id", table_name="systems")
    op.drop_index("ix_systems_jurisdiction_id", table_name="systems")
    op.drop_index("ix_systems_jurisdiction_cloud_id", table_name="systems")
    op.drop_table("systems")
    op.drop_index(op.f("ix_units_jurisdiction"), table_name="units")
    op.drop_table("units")
