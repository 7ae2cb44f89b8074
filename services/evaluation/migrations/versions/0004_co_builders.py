"""A project's co-builders on its evaluations and rectification orders: they read
what their project gets (the suite's access rule, co-owners read).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for table in ("evaluations", "rectifications"):
        op.add_column(
            table,
            sa.Column("co_orgs", postgresql.ARRAY(sa.Uuid()), nullable=False, server_default="{}"),
        )


def downgrade() -> None:
    for table in ("evaluations", "rectifications"):
        op.drop_column(table, "co_orgs")
