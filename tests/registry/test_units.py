"""The unit directory: admins register units; everyone reads their own jurisdiction's."""

from __future__ import annotations

import uuid

import httpx
import pytest
from fastapi import FastAPI

from tests.registry.conftest import (
    Actors,
    make_unit,
    outbox_events,
)
from tests.support.checks import problem
from tests.support.fixtures import TokenFactory, auth


async def test_admin_registers_a_unit_and_reads_it_back(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    body = {"name": " 临汾市水利局办公室 ", "jurisdiction": "linfen-water"}
    created = await client.post("/api/v1/units", json=body, headers=actors.admin)
    assert created.status_code == 201, created.text
    unit = created.json()
    assert set(unit) == {"id", "name", "jurisdiction", "parent", "created_at"}
    uuid.UUID(unit["id"])
    assert unit["name"] == "临汾市水利局办公室", "surrounding whitespace is dropped"
    assert unit["jurisdiction"] == "linfen-water"
    assert unit["parent"] is None
    got = await client.get(f"/api/v1/units/{unit['id']}", headers=actors.admin)
    assert got.status_code == 200
    assert got.json() == unit


async def test_a_unit_may_name_a_parent_in_its_own_jurisdiction(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    body = {"name": "信息中心二科", "jurisdiction": "linfen-water", "parent": str(actors.unit_a)}
    created = await client.post("/api/v1/units", json=body, headers=actors.admin)
    assert created.status_code == 201, created.text
    assert created.json()["parent"] == str(actors.unit_a)


@pytest.mark.parametrize("role", ["unit", "authority", "auditor", "platform", "finance"])
async def test_only_an_admin_registers_units(
    client: httpx.AsyncClient, token: TokenFactory, role: str
) -> None:
    headers = auth(token(roles=[role], jurisdiction="linfen-water"))
    body = {"name": "临汾市水利局", "jurisdiction": "linfen-water"}
    response = await client.post("/api/v1/units", json=body, headers=headers)
    assert problem(response, 403, "role_required")["required_roles"] == ["admin"]


async def test_a_request_without_a_token_is_unauthorized(client: httpx.AsyncClient) -> None:
    body = {"name": "临汾市水利局", "jurisdiction": "linfen-water"}
    response = await client.post("/api/v1/units", json=body)
    problem(response, 401, "token_missing")
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_a_forged_token_is_unauthorized(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/units", headers={"Authorization": "Bearer abc.def.ghi"})
    problem(response, 401)


@pytest.mark.parametrize("jurisdiction", ["taiyuan", "", "LESHAN", None, 5])
async def test_unknown_jurisdiction_is_refused(
    client: httpx.AsyncClient, actors: Actors, jurisdiction: object
) -> None:
    body = {"name": "太原市某局", "jurisdiction": jurisdiction}
    response = await client.post("/api/v1/units", json=body, headers=actors.admin)
    body = problem(response, 422, "validation_failed")
    assert [v["rule"] for v in body["violations"]] == ["schema:body.jurisdiction"]


@pytest.mark.parametrize(
    "body",
    [
        {"jurisdiction": "jincheng"},
        {"name": "", "jurisdiction": "jincheng"},
        {"name": "晋城市\x00大数据局", "jurisdiction": "jincheng"},
        {"name": "晋城市大数据局", "jurisdiction": "jincheng", "kind": "city"},
        {"name": "晋城市大数据局", "jurisdiction": "jincheng", "parent": "not-a-uuid"},
    ],
    ids=["no-name", "empty-name", "nul-in-name", "unknown-field", "bad-parent"],
)
async def test_malformed_unit_is_a_validation_problem(
    client: httpx.AsyncClient, actors: Actors, body: dict[str, object]
) -> None:
    response = await client.post("/api/v1/units", json=body, headers=actors.admin)
    assert problem(response, 422, "validation_failed")["violations"]


async def test_parent_in_another_jurisdiction_is_refused(
    client: httpx.AsyncClient, actors: Actors, token: TokenFactory
) -> None:
    jincheng_admin = auth(token(roles=["admin"], jurisdiction="jincheng"))
    body = {"name": "晋城市大数据应用局", "jurisdiction": "jincheng", "parent": str(actors.unit_a)}
    response = await client.post("/api/v1/units", json=body, headers=jincheng_admin)
    problem(response, 422, "parent_jurisdiction_differs")


async def test_an_admin_registers_units_of_its_own_jurisdiction_only(
    client: httpx.AsyncClient, actors: Actors, registry_app: FastAPI
) -> None:
    """Admins are scoped to their token's jurisdiction (docs/access.md)."""
    body = {"name": "晋城市大数据应用局", "jurisdiction": "jincheng"}
    response = await client.post("/api/v1/units", json=body, headers=actors.admin)
    assert "linfen-water" in problem(response, 403, "jurisdiction_not_permitted")["detail"]
    assert len(await outbox_events(registry_app, "govit.registry.unit.registered")) == 2


async def test_unknown_parent_is_refused(client: httpx.AsyncClient, actors: Actors) -> None:
    body = {"name": "某科", "jurisdiction": "linfen-water", "parent": str(uuid.uuid4())}
    response = await client.post("/api/v1/units", json=body, headers=actors.admin)
    problem(response, 422, "parent_unknown")


async def test_units_are_read_within_their_jurisdiction_only(
    client: httpx.AsyncClient, actors: Actors, token: TokenFactory
) -> None:
    jincheng_admin = auth(token(roles=["admin"], jurisdiction="jincheng"))
    jincheng = await make_unit(client, jincheng_admin, "晋城市大数据应用局", "jincheng")
    for headers in (actors.a, actors.authority, actors.auditor, actors.platform):
        got = await client.get(f"/api/v1/units/{actors.unit_b}", headers=headers)
        assert got.status_code == 200, got.text
        problem(await client.get(f"/api/v1/units/{jincheng}", headers=headers), 404, "not_found")
    problem(
        await client.get(f"/api/v1/units/{actors.unit_a}", headers=actors.other_authority),
        404,
        "not_found",
    )

    listed = await client.get("/api/v1/units", headers=actors.authority)
    assert [u["id"] for u in listed.json()["items"]] == sorted(
        [str(actors.unit_a), str(actors.unit_b)]
    )
    other = await client.get("/api/v1/units", headers=actors.other_authority)
    assert [u["id"] for u in other.json()["items"]] == [str(jincheng)]
    asked = await client.get(
        "/api/v1/units", params={"jurisdiction": "linfen-water"}, headers=actors.other_authority
    )
    assert asked.status_code == 200
    assert asked.json()["items"] == [], "another jurisdiction's directory is not readable"

    # An admin reads its own jurisdiction's directory, like everyone else.
    own = await client.get("/api/v1/units", headers=actors.admin)
    assert {u["id"] for u in own.json()["items"]} == {str(actors.unit_a), str(actors.unit_b)}
    other = await client.get(
        "/api/v1/units", params={"jurisdiction": "jincheng"}, headers=actors.admin
    )
    assert other.json()["items"] == []
    problem(await client.get(f"/api/v1/units/{jincheng}", headers=actors.admin), 404, "not_found")


async def test_listing_units_of_an_unknown_jurisdiction_is_a_validation_problem(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    response = await client.get(
        "/api/v1/units", params={"jurisdiction": "taiyuan"}, headers=actors.admin
    )
    problem(response, 422, "validation_failed")


@pytest.mark.parametrize("unit_id", [str(uuid.uuid4()), "not-a-uuid"])
async def test_unknown_unit_is_not_found_or_invalid(
    client: httpx.AsyncClient, actors: Actors, unit_id: str
) -> None:
    response = await client.get(f"/api/v1/units/{unit_id}", headers=actors.admin)
    if unit_id == "not-a-uuid":
        problem(response, 422, "validation_failed")
    else:
        problem(response, 404, "not_found")


async def test_unit_registration_is_written_to_the_outbox(
    client: httpx.AsyncClient, actors: Actors, registry_app: FastAPI
) -> None:
    body = {"name": "水资源科", "jurisdiction": "linfen-water", "parent": str(actors.unit_a)}
    created = (await client.post("/api/v1/units", json=body, headers=actors.admin)).json()
    envelopes = await outbox_events(registry_app, "govit.registry.unit.registered")
    # Two units from the ``actors`` fixture, then this one.
    assert len(envelopes) == 3
    assert envelopes[-1]["subject"] == created["id"]
    assert envelopes[-1]["data"] == {
        "id": created["id"],
        "name": "水资源科",
        "jurisdiction": "linfen-water",
        "parent": str(actors.unit_a),
    }


async def test_a_refused_unit_writes_nothing(
    client: httpx.AsyncClient, actors: Actors, registry_app: FastAPI, token: TokenFactory
) -> None:
    jincheng_admin = auth(token(roles=["admin"], jurisdiction="jincheng"))
    body = {"name": "某科", "jurisdiction": "jincheng", "parent": str(actors.unit_a)}
    problem(await client.post("/api/v1/units", json=body, headers=jincheng_admin), 422)
    assert len(await outbox_events(registry_app, "govit.registry.unit.registered")) == 2
    listed = await client.get("/api/v1/units", headers=actors.admin)
    assert len(listed.json()["items"]) == 2
