"""Small readers the filing tests share."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from sqlalchemy import select


async def outbox(app: FastAPI, type_: str | None = None) -> list[dict[str, Any]]:
    """Envelopes the test wrote (the rolled-back connection sees its own writes)."""
    table = app.state.tables.outbox
    async with app.state.db.transaction() as session:
        rows = (await session.execute(select(table.c.envelope))).scalars().all()
    return [e for e in rows if type_ is None or e["type"] == type_]
