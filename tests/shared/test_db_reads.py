"""The read path's sessions (shared/db/session.py) on PostgreSQL: a GET's session runs
without a transaction block (no BEGIN, no COMMIT), a block that needs one gets one,
and the request dependency picks the session by method."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI, HTTPException
from sqlalchemy import Column, Integer, MetaData, Table, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.app import DbSession
from shared.db.session import Database, custom_plans, snapshot
from tests.support.databases import Databases

metadata = MetaData()
numbers = Table("numbers", metadata, Column("n", Integer, primary_key=True))


class _Base(DeclarativeBase):
    pass


class Number(_Base):
    __tablename__ = "numbers_orm"
    n: Mapped[int] = mapped_column(primary_key=True)


@pytest.fixture(scope="module")
async def db(databases: Databases) -> AsyncIterator[Database]:
    database = Database(await databases.create(), pool_size=1)
    async with database.engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
        await conn.execute(numbers.insert(), [{"n": n} for n in range(300)])
    yield database
    await database.dispose()


async def _in_block(session: AsyncSession) -> bool:
    """Whether the session's connection is inside a transaction block right now."""
    await session.execute(text("SELECT 1"))
    raw = await (await session.connection()).get_raw_connection()
    in_transaction: bool = raw.driver_connection.is_in_transaction()  # type: ignore[union-attr]
    return in_transaction


async def test_a_read_runs_without_a_transaction_block(db: Database) -> None:
    async with db.reading() as session:
        assert not await _in_block(session)
        assert (await session.execute(select(numbers.c.n).where(numbers.c.n == 7))).scalar() == 7
    async with db.transaction() as session:
        assert await _in_block(session)


async def test_the_pooled_connection_goes_back_transactional(db: Database) -> None:
    # pool_size=1 (no overflow used here): the same connection serves both in turn.
    async with db.reading() as session:
        assert not await _in_block(session)
    async with db.transaction() as session:
        assert await _in_block(session)
    async with db.reading() as session:
        assert not await _in_block(session)


async def test_snapshot_gives_a_read_one_block_for_a_server_side_cursor(db: Database) -> None:
    async with db.reading() as session:
        async with snapshot(session):
            assert await _in_block(session)
            result = await session.stream(select(numbers.c.n).order_by(numbers.c.n))
            seen = [n async for n in result.scalars()]
        assert seen == list(range(300))
        assert not await _in_block(session)
    async with db.transaction() as session:  # already in one: nothing changes
        async with snapshot(session):
            assert await _in_block(session)


async def test_custom_plans_hold_for_the_block_only(db: Database) -> None:
    show = text("SHOW plan_cache_mode")
    for session_of in (db.reading, db.transaction):
        async with session_of() as session:
            async with custom_plans(session):
                assert (await session.execute(show)).scalar() == "force_custom_plan"
            if session_of == db.reading:  # the block's transaction ended with it
                assert (await session.execute(show)).scalar() == "auto"
            async with custom_plans(session, when=False):
                pass
    async with db.reading() as session:
        assert (await session.execute(show)).scalar() == "auto"


async def test_a_read_refuses_to_keep_an_orm_change(db: Database) -> None:
    with pytest.raises(RuntimeError, match="read-only"):
        async with db.reading() as session:
            session.add(Number(n=1))


async def test_the_request_dependency_reads_on_get_and_commits_on_post(db: Database) -> None:
    router = APIRouter()

    @router.get("/block")
    async def on_get(session: DbSession) -> dict[str, Any]:
        return {"in_block": await _in_block(session)}

    @router.post("/block")
    async def on_post(session: DbSession) -> dict[str, Any]:
        return {"in_block": await _in_block(session)}

    app = FastAPI()
    app.state.db = db
    app.include_router(router)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        assert (await client.get("/block")).json() == {"in_block": False}
        assert (await client.post("/block")).json() == {"in_block": True}


async def test_the_commit_point_comes_before_the_answer(db: Database) -> None:
    """A write is committed before its 201 is sent; a refusal rolls it back; a commit
    that fails is never answered as a success."""
    router = APIRouter()

    @router.post("/numbers/{n}", status_code=201)
    async def add(n: int, session: DbSession) -> dict[str, int]:
        await session.execute(numbers.insert().values(n=n))
        if n == 2001:
            raise HTTPException(409, "refused after the write")
        if n == 2002:
            session.add(Number(n=n))  # flushed at the commit, into a table never created
        return {"n": n}

    app = FastAPI()
    app.state.db = db
    app.include_router(router)

    async def stored(n: int) -> bool:
        async with db.reading() as session:
            found = await session.execute(select(numbers.c.n).where(numbers.c.n == n))
            return found.scalar() is not None

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        assert (await client.post("/numbers/2000")).status_code == 201
        assert await stored(2000)
        assert (await client.post("/numbers/2001")).status_code == 409
        assert not await stored(2001)
        assert (await client.post("/numbers/2002")).status_code == 500
        assert not await stored(2002)
    pool: Any = db.engine.sync_engine.pool
    assert pool.checkedout() == 0


async def test_a_read_that_took_no_connection_skips_the_close(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    closed: list[bool] = []
    real_close = AsyncSession.close

    async def counting_close(self: AsyncSession) -> None:
        closed.append(True)
        await real_close(self)

    monkeypatch.setattr(AsyncSession, "close", counting_close)
    async with db.reading():
        pass
    assert closed == []  # nothing held: nothing to close
    async with db.reading() as session:
        await session.execute(select(numbers.c.n).limit(1))
    assert closed == [True]  # a connection was taken: it is given back
    pool: Any = db.engine.sync_engine.pool
    assert pool.checkedout() == 0
    with pytest.raises(RuntimeError, match="read-only"):
        async with db.reading() as session:
            await session.execute(select(numbers.c.n).limit(1))
            session.add(Number(n=10_000))
    assert closed == [True, True] and pool.checkedout() == 0
