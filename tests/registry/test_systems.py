"""Cataloguing a system: the contract's fields, validation, ownership and the profiles' rules."""

from __future__ import annotations

import uuid
from datetime import datetime

import httpx
import pytest
from fastapi import FastAPI

from tests.registry.conftest import (
    Actors,
    create_system,
    outbox_events,
    system_body,
    unit_in,
)
from tests.support.checks import problem
from tests.support.fixtures import TokenFactory, auth

CONTRACT_FIELDS = {
    "name",
    "org",
    "status",
    "network",
    "cloud",
    "sharing_connected",
    "mlps_level",
    "crypto_assessed",
    "asset_registered",
}


async def test_unit_registers_a_system_with_every_contract_field(
    client: httpx.AsyncClient, actors: Actors, registry_app: FastAPI
) -> None:
    body = system_body(actors.unit_a, mlps_level=3)
    response = await client.post("/api/v1/systems", json=body, headers=actors.a)
    assert response.status_code == 201, response.text
    system = response.json()
    uuid.UUID(system["id"])
    assert {field: system[field] for field in CONTRACT_FIELDS} == {
        field: body[field] for field in CONTRACT_FIELDS
    }
    assert system["jurisdiction"] == "linfen-water"
    assert system["cloud_exempt_reason"] is None
    assert system["private_network_approval"] is None
    assert system["resource_count"] == 0
    assert system["version"] == 1
    assert system["facts"] == {
        "catalogued": True,
        "data_shared": False,  # connected, but no shared resource yet
        "on_cloud": True,
        "secure": True,
    }
    created_at = datetime.fromisoformat(system["created_at"])
    assert created_at.utcoffset() is not None
    assert system["updated_at"] == system["created_at"]

    got = await client.get(f"/api/v1/systems/{system['id']}", headers=actors.a)
    assert got.status_code == 200
    assert got.json() == system
    [envelope] = await outbox_events(registry_app, "govit.registry.system.registered")
    assert envelope["subject"] == system["id"]
    assert envelope["data"] == {
        k: v for k, v in system.items() if k not in ("created_at", "updated_at")
    }


async def test_optional_fields_take_their_defaults(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    body = {
        "name": "办公自动化系统",
        "org": str(actors.unit_a),
        "status": "planned",
        "network": "intranet",
        "cloud": "not_migrated",
    }
    response = await client.post("/api/v1/systems", json=body, headers=actors.a)
    assert response.status_code == 201, response.text
    system = response.json()
    assert system["sharing_connected"] is False
    assert system["crypto_assessed"] is False
    assert system["asset_registered"] is False
    assert system["mlps_level"] is None
    assert system["facts"] == {
        "catalogued": True,
        "data_shared": False,
        "on_cloud": False,
        "secure": False,
    }


@pytest.mark.parametrize("field", ["name", "org", "status", "network", "cloud"])
async def test_a_missing_required_field_is_a_validation_problem(
    client: httpx.AsyncClient, actors: Actors, field: str
) -> None:
    body = system_body(actors.unit_a)
    del body[field]
    response = await client.post("/api/v1/systems", json=body, headers=actors.a)
    refused = problem(response, 422, "validation_failed")
    assert [v["rule"] for v in refused["violations"]] == [f"schema:body.{field}"]
    assert all(v["message_zh"] and v["message_en"] for v in refused["violations"])


async def test_an_unknown_field_is_refused_not_ignored(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    body = system_body(actors.unit_a, mlps_levle=3)
    response = await client.post("/api/v1/systems", json=body, headers=actors.a)
    refused = problem(response, 422, "validation_failed")
    assert [v["rule"] for v in refused["violations"]] == ["schema:body.mlps_levle"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", 42),
        ("name", ["水资源系统"]),
        ("name", "x" * 201),
        ("org", "unit-a"),
        ("status", "live"),
        ("status", None),
        ("network", "wifi"),
        ("cloud", "aws"),
        ("sharing_connected", "maybe"),
        ("sharing_connected", None),
        ("crypto_assessed", {"done": True}),
        ("asset_registered", 2),
        ("mlps_level", "high"),
        ("mlps_level", 2.5),
        ("cloud_exempt_reason", 7),
        ("private_network_approval", ""),
    ],
)
async def test_a_wrong_typed_field_is_a_validation_problem(
    client: httpx.AsyncClient, actors: Actors, field: str, value: object
) -> None:
    body = system_body(actors.unit_a)
    body[field] = value
    response = await client.post("/api/v1/systems", json=body, headers=actors.a)
    refused = problem(response, 422, "validation_failed")
    assert {v["rule"] for v in refused["violations"]} == {f"schema:body.{field}"}


@pytest.mark.parametrize("level", [0, 6, -1])
async def test_mlps_level_must_be_one_to_five(
    client: httpx.AsyncClient, actors: Actors, level: int
) -> None:
    body = system_body(actors.unit_a, mlps_level=level)
    response = await client.post("/api/v1/systems", json=body, headers=actors.a)
    problem(response, 422, "validation_failed")


@pytest.mark.parametrize("level", [1, 5])
async def test_mlps_levels_one_and_five_are_accepted(
    client: httpx.AsyncClient, actors: Actors, level: int
) -> None:
    system = await create_system(client, actors.a, actors.unit_a, mlps_level=level)
    assert system["mlps_level"] == level


@pytest.mark.parametrize(
    "name", ["水资源\x00系统", "水资源\x1b系统", "水资源\x7f", "一行\n两行", "\t", "  "]
)
async def test_control_characters_in_a_name_are_refused_not_a_server_error(
    client: httpx.AsyncClient, actors: Actors, name: str
) -> None:
    body = system_body(actors.unit_a, name=name)
    response = await client.post("/api/v1/systems", json=body, headers=actors.a)
    problem(response, 422, "validation_failed")


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b"{not json", "application/json"),
        (b"\xff\xfe\x00garbage", "application/json"),
        (b"[]", "application/json"),
        (b"", "application/json"),
        (b"name=x", "application/x-www-form-urlencoded"),
    ],
)
async def test_a_body_that_is_not_a_json_object_is_a_validation_problem(
    client: httpx.AsyncClient, actors: Actors, content: bytes, content_type: str
) -> None:
    headers = {**actors.a, "Content-Type": content_type}
    response = await client.post("/api/v1/systems", content=content, headers=headers)
    problem(response, 422, "validation_failed")


async def test_a_json_body_over_1_mib_is_refused_as_too_large(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    body = system_body(actors.unit_a, cloud_exempt_reason="涉" * 400_000)
    response = await client.post("/api/v1/systems", json=body, headers=actors.a)
    problem(response, 413, "payload_too_large")
    listed = await client.get("/api/v1/systems", headers=actors.a)
    assert listed.json()["items"] == []


async def test_unit_cannot_register_a_system_for_another_unit(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    response = await client.post(
        "/api/v1/systems", json=system_body(actors.unit_b), headers=actors.a
    )
    problem(response, 403, "forbidden")


@pytest.mark.parametrize("role", ["authority", "auditor", "platform", "finance", "reviewer"])
async def test_only_the_owning_unit_registers_its_systems(
    client: httpx.AsyncClient, actors: Actors, token: TokenFactory, role: str
) -> None:
    headers = auth(token(roles=[role], org=actors.unit_a, jurisdiction="linfen-water"))
    response = await client.post(
        "/api/v1/systems", json=system_body(actors.unit_a), headers=headers
    )
    problem(response, 403, "forbidden")


async def test_a_system_of_an_unknown_unit_is_refused(
    client: httpx.AsyncClient, actors: Actors, token: TokenFactory
) -> None:
    ghost = uuid.uuid4()
    by_admin = await client.post("/api/v1/systems", json=system_body(ghost), headers=actors.admin)
    problem(by_admin, 422, "unit_unknown")
    # A token naming a unit the directory does not hold.
    headers = auth(token(roles=["unit"], org=ghost, jurisdiction="linfen-water"))
    by_ghost = await client.post("/api/v1/systems", json=system_body(ghost), headers=headers)
    problem(by_ghost, 422, "unit_unknown")


async def test_admin_may_catalogue_for_any_unit_of_its_jurisdiction(
    client: httpx.AsyncClient, actors: Actors, token: TokenFactory
) -> None:
    system = await create_system(client, actors.admin, actors.unit_b)
    assert system["org"] == str(actors.unit_b)
    leshan_admin = auth(token(roles=["admin"], jurisdiction="leshan"))
    response = await client.post(
        "/api/v1/systems", json=system_body(actors.unit_b), headers=leshan_admin
    )
    problem(response, 403, "jurisdiction_not_permitted")


# --- the profiles' rules ---------------------------------------------------------------

PRIVATE_NETWORK_RULES = {
    "linfen-water": "linfen-water:11",
    "xiangfen": "xiangfen:11",
    "xinzhou-transport": "xinzhou-transport:10",
    "leshan": "leshan:8.2",
}
CLOUD_RULES = {
    "linfen-water": "linfen-water:29",
    "xiangfen": "xiangfen:35",
    "xinzhou-transport": "xinzhou-transport:28",
    "leshan": "leshan:8.3",
    "jincheng": "jincheng:27",
}


@pytest.mark.parametrize(("jurisdiction", "rule"), sorted(PRIVATE_NETWORK_RULES.items()))
async def test_a_private_network_without_consent_is_refused_citing_the_profile(
    client: httpx.AsyncClient, token: TokenFactory, jurisdiction: str, rule: str
) -> None:
    unit, headers = await unit_in(client, token, jurisdiction)
    body = system_body(unit, network="private")
    response = await client.post("/api/v1/systems", json=body, headers=headers)
    refused = problem(response, 422, "catalogue_entry_refused")
    assert [v["rule"] for v in refused["violations"]] == [rule]
    assert refused["violations"][0]["message_zh"] and refused["violations"][0]["message_en"]


@pytest.mark.parametrize("jurisdiction", ["linfen-water", "xiangfen", "xinzhou-transport"])
async def test_a_private_network_with_the_authoritys_consent_is_catalogued(
    client: httpx.AsyncClient, token: TokenFactory, jurisdiction: str
) -> None:
    unit, headers = await unit_in(client, token, jurisdiction)
    system = await create_system(
        client, headers, unit, network="private", private_network_approval="临水信函〔2023〕5号"
    )
    assert system["network"] == "private"
    assert system["private_network_approval"] == "临水信函〔2023〕5号"


async def test_leshan_catalogues_a_referenced_private_network_but_reports_it_noncompliant(
    client: httpx.AsyncClient, token: TokenFactory
) -> None:
    # leshan:8.2 puts private-network leases on the negative list, with no consent
    # route. The catalogue still records the system as it is (with the reference that
    # documents the exception); the compliance view never counts it as compliant.
    unit, headers = await unit_in(client, token, "leshan")
    system = await create_system(
        client, headers, unit, network="private", private_network_approval="乐数经〔2023〕1号"
    )
    compliance = await client.get(f"/api/v1/systems/{system['id']}/compliance", headers=headers)
    assert "leshan:8.2" in [v["rule"] for v in compliance.json()["violations"]]


async def test_jincheng_has_no_private_network_rule(
    client: httpx.AsyncClient, token: TokenFactory
) -> None:
    unit, headers = await unit_in(client, token, "jincheng")
    system = await create_system(client, headers, unit, network="private")
    assert system["network"] == "private"
    assert system["private_network_approval"] is None


@pytest.mark.parametrize(("jurisdiction", "rule"), sorted(CLOUD_RULES.items()))
async def test_a_cloud_exemption_without_a_reason_is_refused_citing_the_cloud_rule(
    client: httpx.AsyncClient, token: TokenFactory, jurisdiction: str, rule: str
) -> None:
    unit, headers = await unit_in(client, token, jurisdiction)
    response = await client.post(
        "/api/v1/systems", json=system_body(unit, cloud="exempt"), headers=headers
    )
    refused = problem(response, 422, "catalogue_entry_refused")
    assert [v["rule"] for v in refused["violations"]] == [rule]
    assert "cloud_exempt_reason" in refused["violations"][0]["message_en"]


async def test_a_cloud_exemption_with_a_reason_counts_as_on_cloud(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    system = await create_system(
        client, actors.a, actors.unit_a, cloud="exempt", cloud_exempt_reason="涉密信息系统"
    )
    assert system["cloud"] == "exempt"
    assert system["cloud_exempt_reason"] == "涉密信息系统"
    assert system["facts"]["on_cloud"] is True


async def test_every_broken_rule_is_reported_at_once(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    body = system_body(actors.unit_a, network="private", cloud="exempt")
    response = await client.post("/api/v1/systems", json=body, headers=actors.a)
    refused = problem(response, 422, "catalogue_entry_refused")
    assert [v["rule"] for v in refused["violations"]] == ["linfen-water:11", "linfen-water:29"]


async def test_a_refused_system_is_not_stored(
    client: httpx.AsyncClient, actors: Actors, registry_app: FastAPI
) -> None:
    body = system_body(actors.unit_a, cloud="exempt")
    problem(await client.post("/api/v1/systems", json=body, headers=actors.a), 422)
    listed = await client.get("/api/v1/systems", headers=actors.a)
    assert listed.json()["items"] == []
    assert await outbox_events(registry_app, "govit.registry.system.registered") == []
