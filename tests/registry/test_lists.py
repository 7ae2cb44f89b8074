"""Listing the catalogue: filters, visibility, and keyset pages that stay stable."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest

from tests.registry.conftest import (
    Actors,
    create_system,
    fresh_registry,
    make_unit,
    system_body,
    unit_in,
)
from tests.support.checks import problem
from tests.support.databases import Databases
from tests.support.fixtures import Stack, TokenFactory, auth


async def ids(client: httpx.AsyncClient, headers: dict[str, str], **params: object) -> list[str]:
    response = await client.get("/api/v1/systems", params=params, headers=headers)
    assert response.status_code == 200, response.text
    page = response.json()
    assert page["next_cursor"] is None, "expected one page"
    return [s["id"] for s in page["items"]]


async def walk(
    client: httpx.AsyncClient, headers: dict[str, str], limit: int, **params: object
) -> list[list[str]]:
    """Every page, following ``next_cursor`` until it is null."""
    pages: list[list[str]] = []
    cursor: str | None = None
    while True:
        query: dict[str, Any] = {**params, "limit": limit}
        if cursor:
            query["cursor"] = cursor
        response = await client.get("/api/v1/systems", params=query, headers=headers)
        assert response.status_code == 200, response.text
        page = response.json()
        pages.append([s["id"] for s in page["items"]])
        cursor = page["next_cursor"]
        if cursor is None:
            return pages
        assert len(pages) < 1000, "pagination does not end"


@pytest.fixture
async def catalogue(client: httpx.AsyncClient, actors: Actors) -> dict[str, str]:
    """Four systems of unit A and one of unit B, each differing in one filter."""
    specs: dict[str, tuple[Any, dict[str, Any]]] = {
        "monitor": (actors.unit_a, {"name": "水资源监测预警系统"}),
        "flood": (
            actors.unit_a,
            {
                "name": "防汛抗旱指挥系统",
                "status": "building",
                "cloud": "migrating",
                "network": "intranet",
                "sharing_connected": False,
            },
        ),
        "office": (
            actors.unit_a,
            {"name": "办公自动化OA", "status": "planned", "cloud": "not_migrated"},
        ),
        "secret": (
            actors.unit_a,
            {
                "name": "涉密水文数据库",
                "cloud": "exempt",
                "cloud_exempt_reason": "涉密",
                "network": "private",
                "private_network_approval": "临水信函〔2023〕5号",
            },
        ),
        "hydro": (actors.unit_b, {"name": "水文监测系统", "network": "internet"}),
    }
    made = {}
    for key, (org, fields) in specs.items():
        headers = actors.a if org == actors.unit_a else actors.b
        made[key] = (await create_system(client, headers, org, **fields))["id"]
    return made


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, ["monitor", "flood", "office", "secret", "hydro"]),
        ({"status": "operating"}, ["monitor", "secret", "hydro"]),
        ({"status": "building"}, ["flood"]),
        ({"status": "retired"}, []),
        ({"cloud": "on_cloud"}, ["monitor", "hydro"]),
        ({"cloud": "exempt"}, ["secret"]),
        ({"network": "intranet"}, ["flood"]),
        ({"network": "private"}, ["secret"]),
        ({"sharing_connected": "false"}, ["flood"]),
        ({"sharing_connected": "true"}, ["monitor", "office", "secret", "hydro"]),
        ({"q": "监测"}, ["monitor", "hydro"]),
        ({"q": "oa"}, ["office"]),  # case-insensitive
        ({"q": "水", "cloud": "on_cloud", "network": "internet"}, ["hydro"]),
        ({"status": "operating", "cloud": "migrating"}, []),
    ],
)
async def test_list_filters_combine(
    client: httpx.AsyncClient,
    actors: Actors,
    catalogue: dict[str, str],
    params: dict[str, str],
    expected: list[str],
) -> None:
    assert await ids(client, actors.authority, **params) == [catalogue[k] for k in expected]


async def test_list_filters_by_owning_unit(
    client: httpx.AsyncClient, actors: Actors, catalogue: dict[str, str]
) -> None:
    only_b = await ids(client, actors.auditor, org=str(actors.unit_b))
    assert only_b == [catalogue["hydro"]]
    only_a = await ids(client, actors.auditor, org=str(actors.unit_a))
    assert only_a == [catalogue[k] for k in ("monitor", "flood", "office", "secret")]
    assert await ids(client, actors.auditor, org=str(uuid.uuid4())) == []


async def test_a_search_takes_percent_and_underscore_literally(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    names = ["达标率100%系统", "达标率1000系统", "a_b系统", "axb系统", "反斜杠\\系统"]
    made = {n: (await create_system(client, actors.a, actors.unit_a, name=n))["id"] for n in names}
    assert await ids(client, actors.a, q="%") == [made["达标率100%系统"]]
    assert await ids(client, actors.a, q="0%") == [made["达标率100%系统"]]
    assert await ids(client, actors.a, q="_") == [made["a_b系统"]]
    assert await ids(client, actors.a, q="a_b") == [made["a_b系统"]]
    assert await ids(client, actors.a, q="\\") == [made["反斜杠\\系统"]]
    assert await ids(client, actors.a, q="%%") == []


@pytest.mark.parametrize("q", ["a\x00b", "x" * 101])
async def test_a_malformed_search_is_a_validation_problem(
    client: httpx.AsyncClient, actors: Actors, q: str
) -> None:
    response = await client.get("/api/v1/systems", params={"q": q}, headers=actors.a)
    problem(response, 422, "validation_failed")


@pytest.mark.parametrize(
    "params",
    [
        {"status": "live"},
        {"cloud": "aws"},
        {"network": "wifi"},
        {"sharing_connected": "maybe"},
        {"org": "unit-a"},
        {"limit": "ten"},
        {"limit": "0"},
        {"limit": "501"},
        {"limit": "-1"},
        {"cursor": "x" * 65},
        {"stauts": "operating"},
    ],
)
async def test_a_malformed_list_query_is_a_validation_problem(
    client: httpx.AsyncClient, actors: Actors, params: dict[str, str]
) -> None:
    response = await client.get("/api/v1/systems", params=params, headers=actors.a)
    assert problem(response, 422, "validation_failed")["violations"]


@pytest.mark.parametrize(
    "cursor", ["not-a-cursor", "AAAA", "é", "!!!!", "=", "AAAAAAAAAAAAAAAAAAAAAAA"]
)
async def test_a_cursor_this_api_did_not_issue_is_refused(
    client: httpx.AsyncClient, actors: Actors, cursor: str
) -> None:
    response = await client.get("/api/v1/systems", params={"cursor": cursor}, headers=actors.a)
    problem(response, 422, "cursor_invalid")


async def test_limits_one_and_five_hundred_are_accepted(
    client: httpx.AsyncClient, actors: Actors, catalogue: dict[str, str]
) -> None:
    for limit in (1, 500):
        response = await client.get(
            "/api/v1/systems", params={"limit": limit}, headers=actors.authority
        )
        assert response.status_code == 200
        assert len(response.json()["items"]) == min(limit, len(catalogue))


async def test_keyset_pages_walk_every_system_once_in_id_order(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    made = [
        (await create_system(client, actors.a, actors.unit_a, name=f"系统{i}"))["id"]
        for i in range(7)
    ]
    pages = await walk(client, actors.a, limit=3)
    assert [len(p) for p in pages] == [3, 3, 1]
    flat = [i for p in pages for i in p]
    assert flat == made == sorted(made, key=uuid.UUID)
    # An exact multiple of the page size ends with a null cursor, not an empty page.
    assert [len(p) for p in await walk(client, actors.a, limit=7)] == [7]


async def test_pages_respect_the_filters(client: httpx.AsyncClient, actors: Actors) -> None:
    made = []
    for i in range(6):
        cloud = "on_cloud" if i % 2 else "migrating"
        made.append(
            ((await create_system(client, actors.a, actors.unit_a, cloud=cloud))["id"], cloud)
        )
    pages = await walk(client, actors.a, limit=2, cloud="on_cloud")
    assert [i for p in pages for i in p] == [i for i, c in made if c == "on_cloud"]


async def test_pages_stay_stable_when_systems_are_added_between_them(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    existing = [
        (await create_system(client, actors.a, actors.unit_a, name=f"旧{i}"))["id"]
        for i in range(8)
    ]
    seen: list[str] = []
    cursor: str | None = None
    added: list[str] = []
    while True:
        params: dict[str, Any] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get("/api/v1/systems", params=params, headers=actors.a)).json()
        seen += [s["id"] for s in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
        for _ in range(2):  # someone catalogues more while we page
            added.append((await create_system(client, actors.a, actors.unit_a, name="新"))["id"])
    assert len(seen) == len(set(seen)), "no system appears twice"
    assert [i for i in seen if i in existing] == existing, "none skipped, order kept"
    assert set(seen) - set(existing) <= set(added)


async def test_pagination_is_stable_under_concurrent_inserts(
    stack: Stack, databases: Databases, token: TokenFactory
) -> None:
    """Real concurrency: writers commit on their own connections while a reader pages."""
    async with fresh_registry(stack, databases, outbox_relay_enabled=False) as (_, client):
        admin = auth(token(roles=["admin"], jurisdiction="xiangfen"))
        unit = await make_unit(client, admin, "襄汾县政务信息化中心", "xiangfen")
        headers = auth(token(roles=["unit"], org=unit, jurisdiction="xiangfen"))
        reader = auth(token(roles=["authority"], jurisdiction="xiangfen"))
        body = system_body(unit, status="building")
        existing = set()
        for i in range(40):
            created = await client.post(
                "/api/v1/systems", json={**body, "name": f"旧{i}"}, headers=headers
            )
            existing.add(created.json()["id"])

        stop = asyncio.Event()
        first_write = asyncio.Event()
        added: list[str] = []

        async def writer(n: int) -> None:
            while not stop.is_set():
                created = await client.post(
                    "/api/v1/systems", json={**body, "name": f"新{n}"}, headers=headers
                )
                assert created.status_code == 201, created.text
                added.append(created.json()["id"])
                first_write.set()
                await asyncio.sleep(0)

        async def read_all() -> list[str]:
            try:
                seen: list[str] = []
                cursor: str | None = None
                while True:
                    params: dict[str, Any] = {"limit": 4, "status": "building"}
                    if cursor:
                        params["cursor"] = cursor
                    page = (
                        await client.get("/api/v1/systems", params=params, headers=reader)
                    ).json()
                    seen += [s["id"] for s in page["items"]]
                    cursor = page["next_cursor"]
                    # Stop writers once the reader has passed every pre-existing row,
                    # or the page walk would chase the writers forever.
                    if cursor is None or existing <= set(seen):
                        stop.set()
                    if cursor is None:
                        return seen
                    # Make sure the set grows while we page, whatever the scheduling.
                    await asyncio.wait_for(first_write.wait(), timeout=10)
            finally:
                stop.set()

        seen, *_ = await asyncio.wait_for(
            asyncio.gather(read_all(), writer(1), writer(2), writer(3)), timeout=60
        )
        assert added, "the writers ran while the reader paged"
        assert len(seen) == len(set(seen)), "no system appears twice"
        assert existing <= set(seen), "no pre-existing system is skipped"
        assert set(seen) - existing <= set(added)


# --- visibility -------------------------------------------------------------------------


async def test_a_unit_lists_only_its_own_systems(
    client: httpx.AsyncClient, actors: Actors, catalogue: dict[str, str]
) -> None:
    assert await ids(client, actors.b) == [catalogue["hydro"]]
    assert len(await ids(client, actors.a)) == 4
    # Asking for another unit's systems yields nothing rather than leaking them.
    assert await ids(client, actors.b, org=str(actors.unit_a)) == []


@pytest.mark.parametrize("who", ["authority", "auditor", "platform"])
async def test_oversight_lists_the_whole_jurisdiction(
    client: httpx.AsyncClient, actors: Actors, catalogue: dict[str, str], who: str
) -> None:
    assert sorted(await ids(client, getattr(actors, who))) == sorted(catalogue.values())


async def test_another_jurisdictions_authority_lists_none_of_them(
    client: httpx.AsyncClient, actors: Actors, catalogue: dict[str, str], token: TokenFactory
) -> None:
    unit, headers = await unit_in(client, token, "jincheng")
    theirs = await create_system(client, headers, unit)
    assert await ids(client, actors.other_authority) == [theirs["id"]]
    assert await ids(client, actors.other_authority, org=str(actors.unit_a)) == []
    # Admins are scoped to their jurisdiction too (docs/access.md).
    assert sorted(await ids(client, actors.admin)) == sorted(catalogue.values())


async def test_a_unit_token_of_the_wrong_jurisdiction_is_refused(
    client: httpx.AsyncClient, actors: Actors, catalogue: dict[str, str], token: TokenFactory
) -> None:
    """Its unit is linfen-water's: a token saying jincheng reads nothing at all (403)."""
    headers = auth(token(roles=["unit"], org=actors.unit_a, jurisdiction="jincheng"))
    listed = await client.get("/api/v1/systems", headers=headers)
    assert problem(listed, 403, "token_jurisdiction_mismatch")["unit_jurisdiction"] == (
        "linfen-water"
    )
    one = await client.get(f"/api/v1/systems/{catalogue['monitor']}", headers=headers)
    problem(one, 403, "token_jurisdiction_mismatch")
