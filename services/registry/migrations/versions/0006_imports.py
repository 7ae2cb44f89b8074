"""Catalogue imports run in the background (``POST /systems:import`` with
``Prefer: respond-async`` answers 202; ``GET /imports/{id}`` reads the state).

The file is stored with the queued import (``bytea``) and cleared once the import has
finished; the importing caller's claims are kept so the worker imports with the same
rights; ``claim``/``lease_until`` let another replica take over a running import
whose replica died.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "imports",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("org", sa.Text(), nullable=False),
        sa.Column("sub", sa.Text(), nullable=False),
        sa.Column("jurisdiction", sa.Text(), nullable=False),
        sa.Column("roles", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("scopes", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("file", sa.LargeBinary(), nullable=True),
        sa.Column("encoding", sa.Text(), nullable=True),
        sa.Column("imported", sa.Integer(), server_default="0", nullable=False),
        sa.Column(
            "errors",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default="[]",
            nullable=False,
        ),
        sa.Column("error_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("claim", sa.Uuid(), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "state IN ('queued','running','done','refused')", name=op.f("ck_imports_state")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_imports")),
    )
    op.create_index(
        "ix_imports_waiting",
        "imports",
        ["created_at"],
        unique=False,
        postgresql_where=sa.text("state IN ('queued','running')"),
    )


def downgrade() -> None:
    op.drop_index(
        "ix_imports_waiting",
        table_name="imports",
        postgresql_where=sa.text("state IN ('queued','running')"),
    )
    op.drop_table("imports")
