"""The Idempotency-Key store (``shared.idempotency.idempotency_table``), created from
the kit's declaration (``shared.idempotency_migration``) as every service's is.

The revision trail's table (``shared.revisions.revision_table``) is the shape
``system_revisions`` already has, so it needs no change here.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""

from collections.abc import Sequence

from shared.idempotency_migration import create_idempotency_table, drop_idempotency_table

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_idempotency_table()


def downgrade() -> None:
    drop_idempotency_table()
