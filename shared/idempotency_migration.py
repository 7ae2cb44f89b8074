"""Alembic operations for the Idempotency-Key store; each service's migrations call them.

The table is the one ``shared.idempotency.idempotency_table`` declares (the models'
metadata), created from that declaration as ``shared.events.migration`` does for the
event tables, so a migration and the models cannot drift apart.
"""

from __future__ import annotations

from alembic import op

from shared.db.base import new_metadata
from shared.idempotency import idempotency_table


def create_idempotency_table() -> None:
    idempotency_table(new_metadata()).create(op.get_bind())


def drop_idempotency_table() -> None:
    op.drop_index("ix_idempotency_keys_expires_at", table_name="idempotency_keys")
    op.drop_table("idempotency_keys")
