"""Input hygiene on the registry (issue 16): invisible characters, strict JSON types,
duplicate keys, bounded 422s, and unit names unique within a jurisdiction."""

from __future__ import annotations

import asyncio
import json
import unicodedata
import uuid
from typing import Any

import asyncpg
import httpx
import pytest

from shared.db.migrate import upgrade
from shared.db.session import asyncpg_dsn
from tests.registry.conftest import (
    Actors,
    create_system,
    fresh_registry,
    make_unit,
    resource_body,
    system_body,
)
from tests.support.checks import problem
from tests.support.databases import Databases
from tests.support.fixtures import Stack, TokenFactory, auth

UNITS = "/api/v1/units"
SYSTEMS = "/api/v1/systems"


def raw(headers: dict[str, str]) -> dict[str, str]:
    return {**headers, "Content-Type": "application/json"}


# --- invisible and look-alike characters ------------------------------------------------


@pytest.mark.parametrize(
    ("name", "code_point"),
    [
        ("\u200b", "U+200B"),
        ("\u202e脑大市城", "U+202E"),
        ("晋城市\x85大数据局", "U+0085"),
        ("晋城市\u2028大数据局", "U+2028"),
        ("晋城市\u2066大数据局", "U+2066"),
    ],
)
async def test_a_unit_name_with_invisible_characters_is_refused_naming_the_code_point(
    client: httpx.AsyncClient, actors: Actors, name: str, code_point: str
) -> None:
    body = {"name": name, "jurisdiction": actors.jurisdiction}
    refused = problem(await client.post(UNITS, json=body, headers=actors.admin), 422)
    assert refused["code"] == "validation_failed"
    [error] = refused["errors"]
    assert error["loc"] == "body.name"
    assert error["type"] == "text_invisible_character"
    assert code_point in error["message"] and code_point in refused["detail"]


@pytest.mark.parametrize("field", ["name", "cloud_exempt_reason", "private_network_approval"])
@pytest.mark.parametrize("char", ["\u202e", "\u200b", "\x85", "\u2028", "\u2029", "\ufeff"])
async def test_every_free_text_field_of_a_system_refuses_invisible_characters(
    client: httpx.AsyncClient, actors: Actors, field: str, char: str
) -> None:
    body = system_body(actors.unit_a, **{field: f"某{char}某"})
    response = await client.post(SYSTEMS, json=body, headers=actors.a)
    refused = problem(response, 422, "validation_failed")
    assert [e["loc"] for e in refused["errors"]] == [f"body.{field}"]


@pytest.mark.parametrize("field", ["name", "source", "format", "update_frequency"])
async def test_every_free_text_field_of_a_resource_refuses_invisible_characters(
    client: httpx.AsyncClient, actors: Actors, field: str
) -> None:
    system = await create_system(client, actors.a, actors.unit_a)
    body = {**resource_body(), field: "数据\u202e源"}
    response = await client.post(f"{SYSTEMS}/{system['id']}/resources", json=body, headers=actors.a)
    refused = problem(response, 422, "validation_failed")
    assert [e["loc"] for e in refused["errors"]] == [f"body.{field}"]


async def test_a_patch_cannot_smuggle_invisible_characters_either(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    system = await create_system(client, actors.a, actors.unit_a)
    path = f"{SYSTEMS}/{system['id']}"
    for name in ("\u200b", "水资源\u2028系统", "\u202e统系"):
        problem(await client.patch(path, json={"name": name}, headers=actors.a), 422)
    assert (await client.get(path, headers=actors.a)).json()["name"] == system["name"]


async def test_names_are_stored_nfc_normalised(client: httpx.AsyncClient, actors: Actors) -> None:
    decomposed = "Cafe\u0301 数据中心"
    created = await create_system(client, actors.a, actors.unit_a, name=decomposed)
    assert created["name"] == unicodedata.normalize("NFC", decomposed) == "Café 数据中心"


async def test_search_text_refuses_invisible_characters_but_lists_still_filter(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    refused = await client.get(SYSTEMS, params={"q": "\u202e水"}, headers=actors.a)
    problem(refused, 422, "validation_failed")
    listed = await client.get(SYSTEMS, params={"q": "水"}, headers=actors.a)
    assert listed.status_code == 200, listed.text


async def test_an_imported_cell_with_invisible_characters_is_a_row_error(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    """The import validates rows with the same schema, so the same text rules."""
    header = "org,name,status,network,cloud,sharing_connected,mlps_level"
    good = f"{actors.unit_a},水资源监测预警系统,operating,extranet,on_cloud,true,2"
    bad = f"{actors.unit_a},\u202e统系警预测监,operating,extranet,on_cloud,true,2"
    content = "\r\n".join([header, good, bad]).encode()
    response = await client.post(
        "/api/v1/systems:import", content=content, headers={**actors.a, "Content-Type": "text/csv"}
    )
    refused = problem(response, 422)
    [error] = refused["errors"]
    assert (error["row"], error["column"]) == (3, "name")
    assert "U+202E" in error["message"]
    assert (await client.get(SYSTEMS, headers=actors.a)).json()["items"] == []


# --- strict types in JSON bodies -------------------------------------------------------------


@pytest.mark.parametrize("level", ['"3"', "3.0", "1e0", "true", '"high"'])
async def test_mlps_level_must_be_a_json_integer(
    client: httpx.AsyncClient, actors: Actors, level: str
) -> None:
    body = json.dumps(system_body(actors.unit_a)).replace(
        '"mlps_level": 2', f'"mlps_level": {level}'
    )
    assert level in body
    response = await client.post(SYSTEMS, content=body, headers=raw(actors.a))
    refused = problem(response, 422, "validation_failed")
    assert [e["loc"] for e in refused["errors"]] == ["body.mlps_level"]


@pytest.mark.parametrize("field", ["sharing_connected", "crypto_assessed", "asset_registered"])
@pytest.mark.parametrize("value", ["yes", "on", "true", 1, 0, "1"])
async def test_flags_must_be_json_booleans(
    client: httpx.AsyncClient, actors: Actors, field: str, value: object
) -> None:
    body = system_body(actors.unit_a, **{field: value})
    refused = problem(await client.post(SYSTEMS, json=body, headers=actors.a), 422)
    assert [e["loc"] for e in refused["errors"]] == [f"body.{field}"]


async def test_a_patch_is_strict_too(client: httpx.AsyncClient, actors: Actors) -> None:
    system = await create_system(client, actors.a, actors.unit_a)
    path = f"{SYSTEMS}/{system['id']}"
    for patch in ({"mlps_level": "3"}, {"mlps_level": 3.0}, {"crypto_assessed": "no"}):
        problem(await client.patch(path, json=patch, headers=actors.a), 422, "validation_failed")
    assert (await client.patch(path, json={"mlps_level": 3}, headers=actors.a)).status_code == 200


async def test_query_flags_stay_strings_on_the_wire(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    await create_system(client, actors.a, actors.unit_a, sharing_connected=True)
    for value in ("true", "false"):
        listed = await client.get(SYSTEMS, params={"sharing_connected": value}, headers=actors.a)
        assert listed.status_code == 200, listed.text


# --- duplicate JSON keys --------------------------------------------------------------------


async def test_a_repeated_key_is_refused_naming_it_and_nothing_is_stored(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    body = json.dumps(system_body(actors.unit_a, status="planned"))[:-1] + ', "status": "retired"}'
    response = await client.post(SYSTEMS, content=body, headers=raw(actors.a))
    refused = problem(response, 422, "json_duplicate_key")
    assert refused["key"] == "status"
    assert "status" in refused["detail"] and "RFC 8259" in refused["detail"]
    listed = await client.get(SYSTEMS, headers=actors.a)
    assert listed.json()["items"] == []


async def test_a_repeated_key_in_a_unit_or_a_patch_is_refused_too(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    unit = '{"name": "甲局", "jurisdiction": "linfen-water", "name": "乙局"}'
    problem(
        await client.post(UNITS, content=unit, headers=raw(actors.admin)), 422, "json_duplicate_key"
    )
    system = await create_system(client, actors.a, actors.unit_a)
    patch = '{"cloud": "on_cloud", "cloud": "migrating"}'
    response = await client.patch(f"{SYSTEMS}/{system['id']}", content=patch, headers=raw(actors.a))
    assert problem(response, 422, "json_duplicate_key")["key"] == "cloud"


async def test_a_json_body_without_repeats_still_parses_as_before(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    # Bad JSON keeps its old answer.
    body = {"name": "某局", "jurisdiction": actors.jurisdiction, "parent": None}
    assert (await client.post(UNITS, json=body, headers=actors.admin)).status_code == 201
    problem(await client.post(UNITS, content=b"{not json", headers=raw(actors.admin)), 422)


# --- bounded error lists ---------------------------------------------------------------------


async def test_sixty_thousand_unknown_keys_get_a_bounded_answer_with_a_count(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    body: dict[str, Any] = system_body(actors.unit_a)
    body.update({f"k{i}": 0 for i in range(60_000)})
    content = json.dumps(body, separators=(",", ":"))
    assert len(content) < 1024 * 1024
    response = await client.post(SYSTEMS, content=content, headers=raw(actors.a))
    refused = problem(response, 422, "validation_failed")
    assert len(response.content) < 32 * 1024, len(response.content)
    assert len(refused["errors"]) == len(refused["violations"]) == 50
    assert refused["error_count"] == 60_000
    assert refused["errors_truncated"] is True


async def test_a_one_megabyte_key_is_not_echoed_back(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    key = "k" * 1_000_000
    content = json.dumps({"name": "某局", "jurisdiction": actors.jurisdiction, key: 1})
    response = await client.post(UNITS, content=content, headers=raw(actors.admin))
    refused = problem(response, 422, "validation_failed")
    assert len(response.content) < 4 * 1024, len(response.content)
    [error] = refused["errors"]
    assert error["loc"].startswith("body.kkkk") and error["loc"].endswith("…")
    assert refused["error_count"] == 1 and refused["errors_truncated"] is False


# --- unit names unique within a jurisdiction ---------------------------------------------------


async def test_a_second_unit_of_the_same_name_is_a_conflict_naming_the_first(
    client: httpx.AsyncClient, actors: Actors, token: TokenFactory
) -> None:
    first = await make_unit(client, actors.admin, "临汾市水务局", actors.jurisdiction)
    for name in ("临汾市水务局", "  临汾市水务局 "):
        body = {"name": name, "jurisdiction": actors.jurisdiction}
        refused = problem(await client.post(UNITS, json=body, headers=actors.admin), 409)
        assert refused["code"] == "unit_name_taken"
        assert refused["existing_unit"] == str(first)
        assert str(first) in refused["detail"]
    # The same name in another jurisdiction is another unit.
    leshan_admin = auth(token(roles=["admin"], jurisdiction="leshan"))
    await make_unit(client, leshan_admin, "临汾市水务局", "leshan")


async def test_canonically_equal_names_are_the_same_name(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    first = await make_unit(client, actors.admin, "Café 数据局", actors.jurisdiction)
    body = {"name": "Cafe\u0301 数据局", "jurisdiction": actors.jurisdiction}
    refused = problem(await client.post(UNITS, json=body, headers=actors.admin), 409)
    assert refused["existing_unit"] == str(first)


async def test_concurrent_registrations_of_one_name_create_one_unit(
    stack: Stack, databases: Databases, token: TokenFactory
) -> None:
    """Separate connections, each committing: only the unique index can decide."""
    async with fresh_registry(stack, databases, outbox_relay_enabled=False) as (_, client):
        admin = auth(token(roles=["admin"], jurisdiction="leshan"))
        body = {"name": "乐山市数字经济局", "jurisdiction": "leshan"}
        answers = await asyncio.gather(
            *(client.post(UNITS, json=body, headers=admin) for _ in range(8))
        )
        statuses = sorted(a.status_code for a in answers)
        assert statuses == [201] + [409] * 7, [a.text for a in answers]
        [created] = [a.json()["id"] for a in answers if a.status_code == 201]
        assert {a.json()["existing_unit"] for a in answers if a.status_code == 409} == {created}
        listed = await client.get(UNITS, params={"jurisdiction": "leshan"}, headers=admin)
        assert [u["id"] for u in listed.json()["items"]] == [created]


async def test_migration_0004_normalises_names_and_stops_on_existing_duplicates(
    databases: Databases,
) -> None:
    async def units_db(*names: str) -> tuple[str, asyncpg.Connection]:
        url = await databases.create()
        await asyncio.to_thread(upgrade, "registry", url, "0003")
        conn = await asyncpg.connect(asyncpg_dsn(url))
        for name in names:
            await conn.execute(
                "INSERT INTO units (id, name, jurisdiction) VALUES ($1, $2, 'jincheng')",
                uuid.uuid4(),
                name,
            )
        return url, conn

    url, conn = await units_db("Cafe\u0301", "晋城市大数据应用局")
    try:
        await asyncio.to_thread(upgrade, "registry", url, "0004")
        names = {r["name"] for r in await conn.fetch("SELECT name FROM units")}
        assert names == {"Café", "晋城市大数据应用局"}
    finally:
        await conn.close()

    url, conn = await units_db("Café", "Cafe\u0301")
    try:
        with pytest.raises(RuntimeError, match="units share a name"):
            await asyncio.to_thread(upgrade, "registry", url, "0004")
        names = {r["name"] for r in await conn.fetch("SELECT name FROM units")}
        assert names == {"Café", "Cafe\u0301"}, "the failed upgrade changed nothing"
    finally:
        await conn.close()
