"""The suite's object-level access rule: what it grants, that its Python predicate
and its SQL clause agree on PostgreSQL for every role × record combination, and
tokens whose jurisdiction is not their unit's."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, Text, Uuid, insert, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from shared.auth import HomeJurisdictions, Level, Ownership, Principal, Role, allows, caller_check
from shared.auth.access_sql import access_clause
from shared.errors import GovitError
from tests.support.databases import Databases

A = uuid.UUID("01a20000-0000-7000-8000-00000000000a")  # a jincheng unit
B = uuid.UUID("01a20000-0000-7000-8000-00000000000b")  # another jincheng unit
C = uuid.UUID("01a20000-0000-7000-8000-00000000000c")  # a leshan unit
JURISDICTIONS = ("jincheng", "leshan")

metadata = MetaData()
records = Table(
    "access_records",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("org", Uuid),
    Column("org_text", Text),  # an owner kept as text, as a service might
    Column("jurisdiction", Text),
    Column("co_orgs", ARRAY(Uuid)),
)

KINDS = {
    "owned": Ownership(org="org"),
    "owned, text org": Ownership(org="org_text"),
    "co-owned": Ownership(org="org", co_owners="co_orgs"),
    "directory": Ownership(org=None, directory=True),
    "no owner": Ownership(org=None),
}

ROLE_SETS = [
    *({role} for role in Role),
    {Role.UNIT, Role.PLATFORM},
    {Role.UNIT, Role.AUDITOR},
    {Role.UNIT, Role.ADMIN},
]
# Orgs a token may name: units of either jurisdiction, the same id spelt in capitals,
# no id at all, and the nil UUID development tokens use for "no unit".
ORGS = [str(A), str(B), str(C), str(A).upper(), "not-a-uuid", str(uuid.UUID(int=0))]


def principal(roles: set[Role], org: str, jurisdiction: str) -> Principal:
    return Principal("tester", org, jurisdiction, frozenset(roles))


def every_record() -> list[dict[str, Any]]:
    rows = []
    combos = itertools.product(
        (A, B, C, None),
        (*JURISDICTIONS, None),
        (None, [], [A], [B, C], [None, A]),
    )
    for number, (org, jurisdiction, co_orgs) in enumerate(combos, start=1):
        rows.append(
            {
                "id": number,
                "org": org,
                "org_text": None if org is None else str(org),
                "jurisdiction": jurisdiction,
                "co_orgs": co_orgs,
            }
        )
    return rows


@pytest.fixture(scope="module")
async def engine(databases: Databases) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(await databases.create())
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
        await conn.execute(insert(records), every_record())
    yield engine
    await engine.dispose()


async def test_the_sql_clause_and_the_predicate_agree_on_every_combination(
    engine: AsyncEngine,
) -> None:
    async with engine.connect() as conn:
        # Rows as PostgreSQL returns them (UUID objects, lists): what the predicate sees.
        stored = [dict(row) for row in (await conn.execute(select(records))).mappings()]
        assert len(stored) == 60
        checked = granted = 0
        cases = itertools.product(ROLE_SETS, ORGS, JURISDICTIONS, KINDS.items(), Level)
        for roles, org, jurisdiction, (name, kind), level in cases:
            who = principal(roles, org, jurisdiction)
            query = select(records.c.id).where(access_clause(who, records, kind, level))
            in_sql = set((await conn.scalars(query)).all())
            in_python = {r["id"] for r in stored if allows(who, r, kind, level)}
            assert in_sql == in_python, (sorted(roles), org, jurisdiction, name, level)
            checked += 1
            granted += len(in_sql)
    assert checked == len(ROLE_SETS) * len(ORGS) * 2 * len(KINDS) * 2
    assert granted > 0, "the comparison must not be vacuous"


# --- what the rule grants --------------------------------------------------------------

OWNED = KINDS["owned"]
CO_OWNED = KINDS["co-owned"]


def record(
    org: uuid.UUID | None, jurisdiction: str, co_orgs: list[uuid.UUID] | None = None
) -> dict[str, Any]:
    return {"org": org, "jurisdiction": jurisdiction, "co_orgs": co_orgs}


def test_a_unit_reads_and_writes_its_own_records_only() -> None:
    unit = principal({Role.UNIT}, str(A), "jincheng")
    for level in Level:
        assert allows(unit, record(A, "jincheng"), OWNED, level)
        assert not allows(unit, record(B, "jincheng"), OWNED, level)
    assert allows(principal({Role.UNIT}, str(A).upper(), "jincheng"), record(A, "jincheng"), OWNED)


def test_co_owners_read_but_do_not_write() -> None:
    unit = principal({Role.UNIT}, str(B), "jincheng")
    shared = record(A, "jincheng", [B])
    assert allows(unit, shared, CO_OWNED)
    assert not allows(unit, shared, CO_OWNED, Level.WRITE)
    assert not allows(unit, shared, OWNED), "a record without co-owners has none"


@pytest.mark.parametrize(
    "role", [Role.AUTHORITY, Role.FINANCE, Role.REVIEWER, Role.AUDITOR, Role.PLATFORM]
)
def test_oversight_reads_its_whole_jurisdiction_and_writes_nothing(role: Role) -> None:
    who = principal({role}, str(C), "jincheng")
    assert allows(who, record(A, "jincheng"), OWNED)
    assert not allows(who, record(A, "leshan"), OWNED)
    assert not allows(who, record(C, "jincheng"), OWNED, Level.WRITE), "not even its own org's"


def test_an_admin_reads_and_writes_its_own_jurisdiction_only() -> None:
    admin = principal({Role.ADMIN}, str(uuid.UUID(int=0)), "jincheng")
    for level in Level:
        assert allows(admin, record(A, "jincheng"), OWNED, level)
        assert not allows(admin, record(C, "leshan"), OWNED, level)
    assert allows(admin, {"jurisdiction": "jincheng"}, KINDS["no owner"], Level.WRITE)
    assert not allows(admin, {"jurisdiction": "leshan"}, KINDS["no owner"], Level.WRITE)


def test_a_directory_is_read_by_every_role_of_its_jurisdiction_and_written_by_admins() -> None:
    directory = KINDS["directory"]
    entry = {"jurisdiction": "jincheng"}
    for role in Role:
        who = principal({role}, str(A), "jincheng")
        assert allows(who, entry, directory)
        assert not allows(principal({role}, str(A), "leshan"), entry, directory)
        assert allows(who, entry, directory, Level.WRITE) == (role is Role.ADMIN)


# --- a token's jurisdiction must be its unit's -----------------------------------------


class Directory:
    def __init__(self, units: dict[str, str]) -> None:
        self.units = units
        self.asked: list[str] = []

    async def __call__(self, org: str) -> str | None:
        self.asked.append(org)
        return self.units.get(org)


async def test_a_token_of_another_jurisdiction_than_its_units_is_refused() -> None:
    homes = HomeJurisdictions()
    directory = Directory({str(A): "jincheng"})
    await homes.check(principal({Role.UNIT}, str(A), "jincheng"), directory)
    for roles in ({Role.UNIT}, {Role.ADMIN}, {Role.AUDITOR}):
        with pytest.raises(GovitError) as caught:
            await homes.check(principal(roles, str(A), "leshan"), directory)
        assert (caught.value.status, caught.value.code) == (403, "token_jurisdiction_mismatch")
    assert directory.asked == [str(A)], "a unit never moves: its answer is remembered"
    await homes.check(principal({Role.ADMIN}, "no-unit-yet", "leshan"), directory)


async def test_an_unknown_org_is_asked_again_once_its_answer_is_stale() -> None:
    now = [0.0]
    homes = HomeJurisdictions(unknown_seconds=60, clock=lambda: now[0])
    directory = Directory({})
    who = principal({Role.UNIT}, str(B), "leshan")
    await homes.check(who, directory)
    now[0] = 59.9
    await homes.check(who, directory)
    assert directory.asked == [str(B)]
    directory.units[str(B)] = "jincheng"  # a projection learns of the unit
    now[0] = 60.0
    with pytest.raises(GovitError):
        await homes.check(who, directory)
    assert directory.asked == [str(B), str(B)]


async def test_the_memory_of_homes_is_bounded() -> None:
    homes = HomeJurisdictions(max_entries=2)
    directory = Directory({str(A): "jincheng", str(B): "jincheng", str(C): "leshan"})
    for org, jurisdiction in [(A, "jincheng"), (B, "jincheng"), (C, "leshan")]:
        await homes.check(principal({Role.UNIT}, str(org), jurisdiction), directory)
    await homes.check(principal({Role.UNIT}, str(A), "jincheng"), directory)
    assert directory.asked == [str(A), str(B), str(C), str(A)], "the oldest was forgotten"


async def test_a_services_caller_check_asks_its_directory_with_the_requests_session() -> None:
    """``caller_check``: the check every service's routes run, over its own directory."""
    asked: list[tuple[object, uuid.UUID]] = []
    units = {A: "jincheng"}

    async def unit_jurisdiction(session: object, unit_id: uuid.UUID) -> str | None:
        asked.append((session, unit_id))
        return units.get(unit_id)

    check_caller = caller_check(unit_jurisdiction)
    session = object()
    await check_caller(session, principal({Role.UNIT}, str(A), "jincheng"))
    with pytest.raises(GovitError) as caught:
        await check_caller(session, principal({Role.ADMIN}, str(A), "leshan"))
    assert (caught.value.status, caught.value.code) == (403, "token_jurisdiction_mismatch")
    assert asked == [(session, A)], "asked once, with the request's session, then remembered"
    await check_caller(session, principal({Role.ADMIN}, "not-a-uuid", "leshan"))
    await check_caller(session, principal({Role.UNIT}, str(B), "leshan"))  # unknown: let through
    assert asked == [(session, A), (session, B)], "an org that is no UUID names no unit"
