"""A service app under test: every request on one connection, rolled back at the end."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from tests.support.checks import assert_cloudevent


@asynccontextmanager
async def rolled_back_client(app: FastAPI, source: str) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client on ``app`` whose writes all roll back when the test ends.

    Each request's session joins one outer transaction through a savepoint (the
    app's commit point commits only that savepoint), so tests share one migrated
    database and still start from its empty state. Whatever the test did, every
    event it wrote to the outbox must honour the contract (``assert_cloudevent``).
    The app must run no outbox relay: the relay must not use this connection.
    """
    db = app.state.db
    outbox = app.state.tables.outbox
    async with db.engine.connect() as conn:
        outer = await conn.begin()
        db.bind_to(conn)
        try:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                yield client
            envelopes: list[dict[str, Any]] = [
                row.envelope for row in await conn.execute(select(outbox.c.envelope))
            ]
            for envelope in envelopes:
                assert_cloudevent(envelope, source)
        finally:
            db.bind_to(None)
            await outer.rollback()
