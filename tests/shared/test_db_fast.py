"""The fast read path's kit: ``shared.db.fast.fetch`` on PostgreSQL (a Core select run
by asyncpg, compiled once per shape), ``shared.pagination.query_model`` (a list's query
string in one validation, documented as FastAPI documents ``Query()``) and
``json_bytes``/``page_response`` (orjson writing what pydantic writes)."""

from __future__ import annotations

import asyncio
import enum
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Annotated, Any

import asyncpg
import httpx
import pytest
from fastapi import Depends, FastAPI, Query
from pydantic import BaseModel, ConfigDict
from pydantic_core import to_json
from sqlalchemy import (
    Column,
    Enum,
    Integer,
    MetaData,
    String,
    Table,
    Uuid,
    any_,
    bindparam,
    event,
    func,
    insert,
    literal,
    select,
    text,
    type_coerce,
)
from sqlalchemy.dialects.postgresql import ARRAY

from shared.db import fast
from shared.db.session import Database, asyncpg_dsn, custom_plans
from shared.pagination import json_bytes, page_response, query_model, query_parameters
from shared.problems import install_problem_handlers
from tests.support.checks import wait_until
from tests.support.databases import Databases

metadata = MetaData()
things = Table(
    "things",
    metadata,
    Column("n", Integer, primary_key=True),
    Column("id", Uuid, nullable=False),
    Column("kind", String, nullable=False),
)
IDS = {n: uuid.UUID(int=n) for n in range(40)}


class Colour(enum.Enum):
    RED = "red"


@pytest.fixture(scope="module")
async def db(databases: Databases) -> AsyncIterator[Database]:
    database = Database(await databases.create(), pool_size=2)
    async with database.engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
        rows = [{"n": n, "id": IDS[n], "kind": "odd" if n % 2 else "even"} for n in IDS]
        await conn.execute(insert(things), rows)
    yield database
    await database.dispose()


def _by_kind(kind: str, below: int) -> Any:
    return select(things.c.n, things.c.id).where(things.c.kind == kind, things.c.n < below)


async def test_fetch_answers_what_session_execute_answers(db: Database) -> None:
    statement = _by_kind("odd", 10).order_by(things.c.n)
    async with db.reading() as session:
        expected = [dict(r) for r in (await session.execute(statement)).mappings()]
        rows = await fast.fetch(session, statement)
    assert [dict(r) for r in rows] == expected
    assert [r["n"] for r in rows] == [1, 3, 5, 7, 9]
    assert rows[0]["id"] == IDS[1]


async def test_a_shape_compiled_once_runs_with_each_statement_s_own_values(db: Database) -> None:
    fast._kept.clear()
    async with db.reading() as session:
        first = await fast.fetch(session, _by_kind("odd", 6).order_by(things.c.n))
        second = await fast.fetch(session, _by_kind("even", 5).order_by(things.c.n))
    assert len(fast._kept) == 1  # one shape, one compiled entry
    assert [r["n"] for r in first] == [1, 3, 5]
    assert [r["n"] for r in second] == [0, 2, 4]  # not the first statement's values


async def test_bindparams_take_the_request_s_values(db: Database) -> None:
    statement = (
        select(things.c.n)
        .where(things.c.id == bindparam("id"), things.c.n >= bindparam("low"))
        .limit(bindparam("limit", type_=Integer))
    )
    async with db.reading() as session:
        rows = await fast.fetch(session, statement, {"id": IDS[7], "low": 0, "limit": 5})
        none = await fast.fetch(session, statement, {"id": IDS[7], "low": 8, "limit": 5})
    assert [r["n"] for r in rows] == [7]
    assert none == []


async def test_a_list_of_values_goes_as_one_array_parameter(db: Database) -> None:
    statement = select(things.c.n).where(things.c.n == any_(bindparam("ns", type_=ARRAY(Integer))))
    async with db.reading() as session:
        rows = await fast.fetch(session, statement.order_by(things.c.n), {"ns": [9, 2, 77]})
    assert [r["n"] for r in rows] == [2, 9]


async def test_a_read_session_keeps_no_connection_and_returns_the_pooled_one(
    db: Database,
) -> None:
    pool: Any = db.engine.sync_engine.pool
    async with db.reading() as session:
        await fast.fetch(session, _by_kind("odd", 4))
        assert not session.in_transaction()  # the session took no connection
        assert pool.checkedout() == 0  # the one fetch used went back at once


async def test_fast_reads_past_the_pool_size_wait_instead_of_overflowing(
    databases: Databases,
) -> None:
    database = Database(await databases.create(), pool_size=2)  # overflow allowed
    opened: list[object] = []
    event.listen(database.engine.sync_engine, "connect", lambda *_: opened.append(1))
    slow = select(func.pg_sleep(0.05).label("slept"), literal(1).label("one"))

    async def read() -> int:
        async with database.reading() as session:
            rows = await fast.fetch(session, slow)
        one: int = rows[0]["one"]
        return one

    try:
        assert await asyncio.gather(*(read() for _ in range(12))) == [1] * 12
        assert len(opened) <= 2  # never an overflow connection for a read
        async with (
            database.transaction() as first,
            database.transaction() as second,
            database.transaction() as third,
        ):
            for session in (first, second, third):
                await session.execute(text("SELECT 1"))  # writes still overflow
        assert len(opened) == 3
    finally:
        await database.dispose()


async def test_a_pooled_connection_that_died_fails_one_read_only(databases: Databases) -> None:
    database = Database(await databases.create(), pool_size=1)
    backend = select(func.pg_backend_pid().label("pid"))
    try:
        async with database.reading() as session:
            pid = (await fast.fetch(session, backend))[0]["pid"]
        admin = await asyncpg.connect(asyncpg_dsn(database.url))
        try:  # as a restarted PostgreSQL or a killed backend would leave it
            await admin.execute("SELECT pg_terminate_backend($1)", pid)
        finally:
            await admin.close()
        # The error depends on when asyncpg hears of the shutdown: PostgreSQL's notice
        # (57P01), a closed connection, or its protocol caught mid-way.
        died = (asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError)
        with pytest.raises((*died, OSError)):
            async with database.reading() as session:
                await fast.fetch(session, backend)
        async with database.reading() as session:  # a new connection, at once
            assert (await fast.fetch(session, backend))[0]["pid"] != pid
    finally:
        await database.dispose()


async def test_a_statement_s_own_error_keeps_the_connection_a_cancelled_one_drops_it(
    databases: Databases,
) -> None:
    database = Database(await databases.create(), pool_size=1)
    backend = select(func.pg_backend_pid().label("pid"))

    async def read(statement: Any) -> Any:
        async with database.reading() as session:
            return (await fast.fetch(session, statement))[0][0]

    try:
        pid = await read(backend)
        with pytest.raises(asyncpg.DataError):  # not an integer: PostgreSQL's answer
            await read(select(type_coerce(func.int4(literal("x")), Integer)))
        assert await read(backend) == pid  # the same connection serves on
        admin = await asyncpg.connect(asyncpg_dsn(database.url))
        try:
            slow = asyncio.create_task(read(select(func.pg_sleep(30))))

            async def sleeping() -> bool:
                state = await admin.fetchval(
                    "SELECT state FROM pg_stat_activity WHERE pid = $1", pid
                )
                return bool(state == "active")

            await wait_until(sleeping, what="the slow read running")
            slow.cancel()
            with pytest.raises(asyncio.CancelledError):
                await slow
        finally:
            await admin.close()
        assert await read(backend) != pid  # left mid-statement: dropped, a new one
    finally:
        await database.dispose()


async def test_a_session_with_a_connection_runs_it_there(db: Database) -> None:
    async with db.transaction() as session:  # sees its own uncommitted row
        await session.execute(insert(things).values(n=100, id=uuid.uuid4(), kind="new"))
        rows = await fast.fetch(session, select(things.c.n).where(things.c.kind == "new"))
        assert [r["n"] for r in rows] == [100]
        await session.rollback()
    setting = select(func.current_setting("plan_cache_mode").label("mode"))
    async with db.reading() as session:
        async with custom_plans(session):  # the block's SET LOCAL is seen
            assert (await fast.fetch(session, setting))[0]["mode"] == "force_custom_plan"
        assert (await fast.fetch(session, setting))[0]["mode"] == "auto"


async def test_what_asyncpg_cannot_run_alone_is_refused(db: Database) -> None:
    coloured = Table("coloured", MetaData(), Column("c", Enum(Colour)))
    async with db.reading() as session:
        with pytest.raises(TypeError, match="expanded at execution time"):
            await fast.fetch(session, select(things.c.n).where(things.c.n.in_([1, 2])))
        with pytest.raises(TypeError, match="result conversion"):
            await fast.fetch(session, select(coloured.c.c))
        await session.execute(text("SELECT 1"))  # the session is still usable


def test_the_compiled_shapes_kept_are_bounded() -> None:
    kept = fast._Kept(2)
    entries = [object() for _ in range(3)]
    for n, entry in enumerate(entries):
        kept.put(n, entry)  # type: ignore[arg-type]
        if n == 1:
            assert kept.get(0) is entries[0]  # 0 used last: 1 is forgotten next
    assert len(kept) == 2
    assert kept.get(0) is entries[0] and kept.get(1) is None and kept.get(2) is entries[2]


# --- a list's query string ------------------------------------------------------------


class Filters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: str | None = None
    sharing: bool | None = None
    limit: int = Query(50, ge=1, le=500)


def _apps() -> tuple[FastAPI, FastAPI]:
    fast_app, slow_app = FastAPI(), FastAPI()
    for app in (fast_app, slow_app):
        install_problem_handlers(app)

    @fast_app.get("/list", openapi_extra=query_parameters(Filters))
    async def fast_list(query: Annotated[Filters, Depends(query_model(Filters))]) -> Any:
        return query.model_dump()

    @slow_app.get("/list")
    async def slow_list(query: Annotated[Filters, Query()]) -> Any:
        return query.model_dump()

    return fast_app, slow_app


@pytest.mark.parametrize(
    "query",
    [
        "",
        "kind=a&limit=3",
        "limit=2&limit=7",  # the last of repeated keys
        "sharing=yes",
        "limit=0",
        "limit=abc&sharing=maybe",
        "unknown=1",
        "kind=",
    ],
)
async def test_query_model_answers_as_fastapi_s_query_model(query: str) -> None:
    answers = []
    for app in _apps():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            response = await client.get(f"/list?{query}")
            answers.append((response.status_code, response.json()))
    assert answers[0] == answers[1]


def test_query_parameters_are_documented_as_fastapi_documents_them() -> None:
    documented = [app.openapi()["paths"]["/list"]["get"]["parameters"] for app in _apps()]
    assert documented[0] == documented[1]
    assert [p["name"] for p in documented[0]] == ["kind", "sharing", "limit"]


# --- a page's answer ------------------------------------------------------------------


class Shade(enum.Enum):
    DARK = "dark"


@pytest.mark.parametrize(
    "value",
    [
        {"at": datetime(2026, 11, 26, 0, 57, 23, 54025, tzinfo=UTC), "n": 1},
        {"at": datetime(2026, 11, 26, 0, 57, 23, tzinfo=UTC)},  # no fraction
        {"at": datetime(2026, 11, 26, 8, 0, tzinfo=timezone(timedelta(hours=8)))},
        {"at": datetime(2026, 11, 26, 8, 0), "on": date(2026, 11, 26)},
        {"id": uuid.UUID(int=7), "ids": [uuid.uuid4(), None]},
        {"amount": Decimal("1234.50"), "zero": Decimal("0.00")},
        {"name": "临汾市水利局信息中心", "quote": 'a"b\\c\n', "yes": True, "none": None},
        {"shade": Shade.DARK, "nested": {"deep": [1, -2, [3]]}},
        {uuid.UUID(int=1): "a key that is not a string"},
    ],
)
def test_json_bytes_writes_what_pydantic_writes(value: Any) -> None:
    assert json_bytes(value) == to_json(value)


async def test_page_response_is_the_page_as_json() -> None:
    response = page_response([{"id": uuid.UUID(int=3)}], None)
    assert response.media_type == "application/json"
    assert json.loads(bytes(response.body)) == {
        "items": [{"id": "00000000-0000-0000-0000-000000000003"}],
        "next_cursor": None,
    }
