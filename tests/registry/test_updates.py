"""Changing a catalogue entry: who may, which fields, the lifecycle, revisions and events."""

from __future__ import annotations

from datetime import datetime

import httpx
import pytest
from fastapi import FastAPI

from tests.registry.conftest import (
    Actors,
    create_system,
    outbox_events,
)
from tests.support.checks import problem
from tests.support.fixtures import TokenFactory, auth

UPDATED = "govit.registry.system.updated"


async def history(client: httpx.AsyncClient, actors: Actors, system_id: str) -> list[dict]:
    response = await client.get(f"/api/v1/systems/{system_id}/history", headers=actors.auditor)
    assert response.status_code == 200, response.text
    items: list[dict] = response.json()["items"]
    return items


async def test_unit_updates_its_own_system(client: httpx.AsyncClient, actors: Actors) -> None:
    system = await create_system(client, actors.a, actors.unit_a, cloud="migrating")
    response = await client.patch(
        f"/api/v1/systems/{system['id']}",
        json={"name": "水资源监测预警平台", "cloud": "on_cloud", "mlps_level": 3},
        headers=actors.a,
    )
    assert response.status_code == 200, response.text
    updated = response.json()
    assert updated["name"] == "水资源监测预警平台"
    assert updated["cloud"] == "on_cloud"
    assert updated["mlps_level"] == 3
    assert updated["version"] == 2
    assert datetime.fromisoformat(updated["updated_at"]) > datetime.fromisoformat(
        updated["created_at"]
    )
    assert updated["created_at"] == system["created_at"]
    assert (await client.get(f"/api/v1/systems/{system['id']}", headers=actors.a)).json() == (
        updated
    )
    revisions = await history(client, actors, system["id"])
    assert len(revisions) == 2
    assert revisions[1]["changes"] == {
        "name": {"before": "水资源监测预警系统", "after": "水资源监测预警平台"},
        "cloud": {"before": "migrating", "after": "on_cloud"},
        "mlps_level": {"before": 2, "after": 3},
    }


async def test_unit_cannot_read_or_change_another_units_system(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    system = await create_system(client, actors.a, actors.unit_a)
    path = f"/api/v1/systems/{system['id']}"
    problem(await client.get(path, headers=actors.b), 404, "not_found")
    problem(await client.patch(path, json={"name": "改名"}, headers=actors.b), 404, "not_found")
    for sub in ("history", "compliance", "resources"):
        problem(await client.get(f"{path}/{sub}", headers=actors.b), 404, "not_found")
    assert (await client.get(path, headers=actors.a)).json()["version"] == 1


@pytest.mark.parametrize("who", ["authority", "auditor"])
async def test_oversight_reads_a_system_but_cannot_change_it(
    client: httpx.AsyncClient, actors: Actors, who: str
) -> None:
    headers = getattr(actors, who)
    system = await create_system(client, actors.a, actors.unit_a)
    path = f"/api/v1/systems/{system['id']}"
    assert (await client.get(path, headers=headers)).status_code == 200
    problem(await client.patch(path, json={"status": "retired"}, headers=headers), 403, "forbidden")
    problem(await client.patch(path, json={"cloud": "migrating"}, headers=headers), 403)


async def test_another_jurisdictions_authority_sees_nothing(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    system = await create_system(client, actors.a, actors.unit_a)
    path = f"/api/v1/systems/{system['id']}"
    problem(await client.get(path, headers=actors.other_authority), 404, "not_found")
    problem(await client.patch(path, json={"name": "x"}, headers=actors.other_authority), 404)


async def test_cloud_platform_may_change_cloud_only(
    client: httpx.AsyncClient, actors: Actors, registry_app: FastAPI
) -> None:
    system = await create_system(client, actors.a, actors.unit_a, cloud="migrating")
    path = f"/api/v1/systems/{system['id']}"
    moved = await client.patch(path, json={"cloud": "on_cloud"}, headers=actors.platform)
    assert moved.status_code == 200, moved.text
    assert moved.json()["cloud"] == "on_cloud"
    assert moved.json()["facts"]["on_cloud"] is True
    assert (await history(client, actors, system["id"]))[-1]["actor"] == "gov-cloud-platform"

    for patch, fields in [
        ({"name": "改名"}, ["name"]),
        ({"cloud": "migrating", "mlps_level": 3}, ["mlps_level"]),
        ({"status": "retired"}, ["status"]),
        ({"cloud": "exempt", "cloud_exempt_reason": "涉密"}, ["cloud_exempt_reason"]),
    ]:
        refused = await client.patch(path, json=patch, headers=actors.platform)
        assert problem(refused, 403, "field_not_permitted")["fields"] == fields
    after = (await client.get(path, headers=actors.a)).json()
    assert after["version"] == 2 and after["cloud"] == "on_cloud"
    assert len(await outbox_events(registry_app, UPDATED)) == 1


async def test_cloud_platform_of_another_jurisdiction_cannot_see_the_system(
    client: httpx.AsyncClient, actors: Actors, token: TokenFactory
) -> None:
    system = await create_system(client, actors.a, actors.unit_a, cloud="migrating")
    platform = auth(token(roles=["platform"], jurisdiction="jincheng"))
    path = f"/api/v1/systems/{system['id']}"
    problem(await client.patch(path, json={"cloud": "on_cloud"}, headers=platform), 404)
    problem(await client.get(path, headers=platform), 404)


async def test_the_cloud_platforms_change_obeys_the_profile(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    system = await create_system(client, actors.a, actors.unit_a, cloud="migrating")
    response = await client.patch(
        f"/api/v1/systems/{system['id']}", json={"cloud": "exempt"}, headers=actors.platform
    )
    refused = problem(response, 422, "catalogue_entry_refused")
    assert [v["rule"] for v in refused["violations"]] == ["linfen-water:29"]


@pytest.mark.parametrize(
    ("start", "to"),
    [("operating", "building"), ("operating", "planned"), ("building", "planned")],
)
async def test_lifecycle_never_moves_backwards(
    client: httpx.AsyncClient, actors: Actors, start: str, to: str
) -> None:
    system = await create_system(client, actors.a, actors.unit_a, status=start)
    response = await client.patch(
        f"/api/v1/systems/{system['id']}", json={"status": to}, headers=actors.a
    )
    problem(response, 409, "status_transition_invalid")
    assert len(await history(client, actors, system["id"])) == 1


async def test_lifecycle_moves_forward_and_may_skip_a_step(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    system = await create_system(client, actors.a, actors.unit_a, status="planned")
    path = f"/api/v1/systems/{system['id']}"
    skipped = await client.patch(path, json={"status": "operating"}, headers=actors.a)
    assert skipped.status_code == 200, skipped.text
    assert skipped.json()["status"] == "operating"


async def test_a_retired_system_keeps_its_history_and_refuses_every_change(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    system = await create_system(client, actors.a, actors.unit_a)
    path = f"/api/v1/systems/{system['id']}"
    retired = await client.patch(path, json={"status": "retired"}, headers=actors.a)
    assert retired.status_code == 200, retired.text
    assert retired.json()["facts"]["catalogued"] is False
    for patch in ({"name": "新名"}, {"status": "operating"}, {"cloud": "migrating"}):
        problem(await client.patch(path, json=patch, headers=actors.a), 409, "system_retired")
    problem(
        await client.patch(path, json={"cloud": "migrating"}, headers=actors.platform),
        409,
        "system_retired",
    )
    # Still readable, listed and with its whole history.
    got = await client.get(path, headers=actors.a)
    assert got.json()["status"] == "retired" and got.json()["version"] == 2
    revisions = await history(client, actors, system["id"])
    assert [list(r["changes"]) for r in revisions][1] == ["status"]
    assert revisions[1]["changes"]["status"] == {"before": "operating", "after": "retired"}
    listed = await client.get("/api/v1/systems", params={"status": "retired"}, headers=actors.a)
    assert [s["id"] for s in listed.json()["items"]] == [system["id"]]


@pytest.mark.parametrize(
    "patch",
    [
        {},
        {"name": "水资源监测预警系统"},
        {"name": "  水资源监测预警系统  "},
        {"status": "operating", "cloud": "on_cloud", "mlps_level": 2},
    ],
    ids=["empty", "same-name", "same-name-padded", "same-values"],
)
async def test_a_patch_that_changes_nothing_writes_no_revision_and_no_event(
    client: httpx.AsyncClient, actors: Actors, registry_app: FastAPI, patch: dict[str, object]
) -> None:
    system = await create_system(client, actors.a, actors.unit_a)
    response = await client.patch(f"/api/v1/systems/{system['id']}", json=patch, headers=actors.a)
    assert response.status_code == 200, response.text
    assert response.json() == system
    assert len(await history(client, actors, system["id"])) == 1
    assert await outbox_events(registry_app, UPDATED) == []


async def test_updated_event_carries_the_full_state_and_the_changed_fields(
    client: httpx.AsyncClient, actors: Actors, registry_app: FastAPI
) -> None:
    system = await create_system(client, actors.a, actors.unit_a, sharing_connected=False)
    response = await client.patch(
        f"/api/v1/systems/{system['id']}",
        json={"sharing_connected": True, "status": "retired", "name": "水资源监测预警系统"},
        headers=actors.a,
    )
    updated = response.json()
    [envelope] = await outbox_events(registry_app, UPDATED)
    assert envelope["subject"] == system["id"]
    state = {k: v for k, v in updated.items() if k not in ("created_at", "updated_at")}
    assert envelope["data"] == {**state, "changed": ["sharing_connected", "status"]}
    assert envelope["data"]["version"] == 2
    assert envelope["data"]["facts"]["catalogued"] is False


async def test_a_system_cannot_move_to_another_unit(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    system = await create_system(client, actors.a, actors.unit_a)
    response = await client.patch(
        f"/api/v1/systems/{system['id']}", json={"org": str(actors.unit_b)}, headers=actors.a
    )
    problem(response, 422, "validation_failed")


@pytest.mark.parametrize(
    "field",
    [
        "name",
        "status",
        "network",
        "cloud",
        "sharing_connected",
        "crypto_assessed",
        "asset_registered",
    ],
)
async def test_a_required_field_cannot_be_patched_to_null(
    client: httpx.AsyncClient, actors: Actors, field: str
) -> None:
    system = await create_system(client, actors.a, actors.unit_a)
    response = await client.patch(
        f"/api/v1/systems/{system['id']}", json={field: None}, headers=actors.a
    )
    problem(response, 422, "validation_failed")
    assert (await client.get(f"/api/v1/systems/{system['id']}", headers=actors.a)).json() == (
        system
    )


@pytest.mark.parametrize("field", ["mlps_level", "cloud_exempt_reason", "private_network_approval"])
async def test_an_optional_field_may_be_cleared(
    client: httpx.AsyncClient, actors: Actors, field: str
) -> None:
    system = await create_system(
        client,
        actors.a,
        actors.unit_a,
        cloud_exempt_reason="历史原因",
        private_network_approval="临水信函〔2023〕5号",
    )
    response = await client.patch(
        f"/api/v1/systems/{system['id']}", json={field: None}, headers=actors.a
    )
    assert response.status_code == 200, response.text
    assert response.json()[field] is None


@pytest.mark.parametrize(
    ("start", "patch", "rule"),
    [
        ({}, {"cloud": "exempt"}, "linfen-water:29"),
        ({"cloud": "exempt", "cloud_exempt_reason": "涉密"}, {"cloud_exempt_reason": None}, None),
        ({}, {"network": "private"}, "linfen-water:11"),
        (
            {"network": "private", "private_network_approval": "临水信函〔2023〕5号"},
            {"private_network_approval": None},
            "linfen-water:11",
        ),
    ],
    ids=["exempt-no-reason", "drop-reason", "private-no-consent", "drop-consent"],
)
async def test_a_patch_that_breaks_the_profile_is_refused(
    client: httpx.AsyncClient,
    actors: Actors,
    start: dict[str, object],
    patch: dict[str, object],
    rule: str | None,
) -> None:
    system = await create_system(client, actors.a, actors.unit_a, **start)
    response = await client.patch(f"/api/v1/systems/{system['id']}", json=patch, headers=actors.a)
    refused = problem(response, 422, "catalogue_entry_refused")
    assert [v["rule"] for v in refused["violations"]] == [rule or "linfen-water:29"]


@pytest.mark.parametrize(
    "patch",
    [{"mlps_level": 0}, {"mlps_level": 6}, {"name": "a\x00b"}, {"status": "live"}, {"x": 1}],
)
async def test_a_malformed_patch_is_a_validation_problem(
    client: httpx.AsyncClient, actors: Actors, patch: dict[str, object]
) -> None:
    system = await create_system(client, actors.a, actors.unit_a)
    response = await client.patch(f"/api/v1/systems/{system['id']}", json=patch, headers=actors.a)
    problem(response, 422, "validation_failed")


async def test_patching_an_unknown_system_is_not_found(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    response = await client.patch(
        "/api/v1/systems/01a20000-0000-7000-8000-000000000000",
        json={"name": "x"},
        headers=actors.admin,
    )
    problem(response, 404, "not_found")
