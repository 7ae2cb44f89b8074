"""Keyset pagination (shared/pagination.py): the cursor codec, and pages walked on PostgreSQL."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Column, DateTime, MetaData, Table, Text, Uuid, insert, select

from shared.db.session import Database
from shared.errors import GovitError
from shared.ids import new_id
from shared.pagination import (
    MAX_CURSOR_CHARS,
    decode_cursor,
    encode_cursor,
    escape_like,
    keyset,
    next_page,
)
from tests.support.databases import Databases

metadata = MetaData()
items = Table(
    "items",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("name", Text, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
)
AT = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


# --- the codec ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "types"),
    [
        ((uuid.UUID("0190c0de-0000-7000-8000-000000000001"),), [uuid.UUID]),
        ((AT, new_id()), [datetime, uuid.UUID]),
        ((42, "临汾 50%_"), [int, str]),
    ],
)
def test_a_cursor_decodes_to_the_key_it_was_made_from(
    values: tuple[Any, ...], types: list[type]
) -> None:
    cursor = encode_cursor(*values)
    assert cursor.isascii() and "=" not in cursor and "/" not in cursor and "+" not in cursor
    assert decode_cursor(cursor, types) == values


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "not-a-cursor",
        "AAAA",
        "é",
        "!!!!",
        "=",
        "AAAAAAAAAAAAAAAAAAAAAAA",
        encode_cursor("not a uuid"),
        encode_cursor(1),  # a number where a UUID belongs
        encode_cursor(str(uuid.uuid4()), str(uuid.uuid4())),  # two values for a one-column key
        "W10",  # [] : no value
        "e30",  # {} : not a list
        "x" * (MAX_CURSOR_CHARS + 1),
    ],
)
def test_a_cursor_this_api_did_not_issue_is_a_422(cursor: str) -> None:
    with pytest.raises(GovitError) as refused:
        decode_cursor(cursor, [uuid.UUID])
    assert (refused.value.status, refused.value.code) == (422, "cursor_invalid")


@pytest.mark.parametrize(
    ("value", "type_"),
    [
        (2**63, int),  # past bigint: PostgreSQL would answer with an error, a 500
        (True, int),
        ("2026-11-25T08:00:00", datetime),  # no offset
        ("a\x00b", str),  # text cannot hold NUL
    ],
)
def test_a_value_postgresql_would_reject_is_refused_before_the_query(
    value: object, type_: type
) -> None:
    raw = json.dumps([value]).encode()
    cursor = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    with pytest.raises(GovitError) as refused:
        decode_cursor(cursor, [type_])
    assert refused.value.code == "cursor_invalid"


def test_only_key_types_can_be_encoded() -> None:
    with pytest.raises(TypeError):
        encode_cursor(1.5)


def test_like_wildcards_are_escaped() -> None:
    assert escape_like(r"50%_\x") == r"50\%\_\\x"


# --- pages on PostgreSQL -----------------------------------------------------------------


@pytest.fixture(scope="module")
async def db(databases: Databases) -> AsyncIterator[Database]:
    database = Database(await databases.create())
    async with database.engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    names = [f"系统{n:02d}" for n in range(20)] + ["50%_达标", "50 达标", "500达标"]
    rows = [
        # Two rows per timestamp: a composite key must break the tie by id.
        {"id": new_id(), "name": name, "at": AT + timedelta(minutes=n // 2)}
        for n, name in enumerate(names)
    ]
    async with database.transaction() as session:
        await session.execute(insert(items), rows)
    yield database
    await database.dispose()


async def walk(db: Database, query: Any, key: list[Any], limit: int) -> list[list[Any]]:
    pages, cursor = [], None
    while True:
        async with db.transaction() as session:
            rows = (await session.execute(keyset(query, key, limit, cursor))).mappings().all()
        page, cursor = next_page(rows, limit, key)
        pages.append([row["id"] for row in page])
        if cursor is None:
            return pages


@pytest.mark.parametrize("limit", [1, 5, 23, 50])
async def test_pages_by_id_hold_every_row_once_in_order(db: Database, limit: int) -> None:
    pages = await walk(db, select(items), [items.c.id], limit)
    ids = [i for page in pages for i in page]
    async with db.transaction() as session:
        expected = list(await session.scalars(select(items.c.id).order_by(items.c.id)))
    assert ids == expected
    assert all(len(page) == limit for page in pages[:-1])
    # An exact multiple ends with a full page and no cursor, not an empty page.
    assert pages[-1], "no empty last page"


async def test_a_composite_key_pages_through_ties(db: Database) -> None:
    key = [items.c.at, items.c.id]
    pages = await walk(db, select(items), key, 3)
    async with db.transaction() as session:
        expected = list(await session.scalars(select(items.c.id).order_by(*key)))
    assert [i for page in pages for i in page] == expected


async def test_a_search_matches_wildcards_literally(db: Database) -> None:
    pattern = f"%{escape_like('50%_')}%"
    query = select(items.c.name).where(items.c.name.like(pattern, escape="\\"))
    async with db.transaction() as session:
        assert list(await session.scalars(query)) == ["50%_达标"]
