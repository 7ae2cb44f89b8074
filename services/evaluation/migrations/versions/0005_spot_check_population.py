"""A spot check keeps the size of the population it was drawn from, so that it reads
back as it was answered (GET /api/v1/evaluations:spot-check/{id}); checks drawn
before this revision have none (null).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("spot_checks", sa.Column("population", sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column("spot_checks", "population")
