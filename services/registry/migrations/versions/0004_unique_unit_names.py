"""Unit names are unique within a jurisdiction.

Two units called 临汾市水利局信息中心 in one jurisdiction cannot be told apart in a
list, a report or a drop-down, so the second registration is refused (409 naming the
first). A unique index, not a check in code, so two concurrent registrations cannot
both pass. Names are compared NFC-normalised: the API stores them so
(``shared.text``), and the rows stored before it are normalised here first.

Existing duplicates (registered before this rule) are not merged or renamed behind
anyone's back: the upgrade stops and lists them, for an administrator to resolve.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "uq_units_jurisdiction_name"


def upgrade() -> None:
    bind = op.get_bind()
    bind.execute(
        sa.text("UPDATE units SET name = normalize(name, NFC) WHERE name IS NOT NFC NORMALIZED")
    )
    duplicates = bind.execute(
        sa.text(
            "SELECT jurisdiction, name, string_agg(id::text, ', ' ORDER BY id) AS ids"
            " FROM units GROUP BY jurisdiction, name HAVING count(*) > 1"
            " ORDER BY jurisdiction, name LIMIT 20"
        )
    ).all()
    if duplicates:
        listed = "; ".join(f"{d.jurisdiction} {d.name!r}: {d.ids}" for d in duplicates)
        raise RuntimeError(
            "units share a name within a jurisdiction; rename or merge them, then migrate "
            f"again: {listed}"
        )
    op.create_index(INDEX, "units", ["jurisdiction", "name"], unique=True)


def downgrade() -> None:
    op.drop_index(INDEX, table_name="units")
