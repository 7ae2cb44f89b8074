"""The resource catalogue of a system, and the "data shared" fact it feeds."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from tests.registry.conftest import (
    Actors,
    create_system,
    outbox_events,
    resource_body,
)
from tests.support.checks import problem


async def add(
    client: httpx.AsyncClient, headers: dict[str, str], system_id: str, **overrides: object
) -> httpx.Response:
    return await client.post(
        f"/api/v1/systems/{system_id}/resources", json=resource_body(**overrides), headers=headers
    )


async def test_unit_adds_a_resource_and_lists_it(
    client: httpx.AsyncClient, actors: Actors, registry_app: FastAPI
) -> None:
    system = await create_system(client, actors.a, actors.unit_a)
    response = await add(client, actors.a, system["id"])
    assert response.status_code == 201, response.text
    resource = response.json()
    assert resource["system_id"] == system["id"]
    assert {k: resource[k] for k in resource_body()} == resource_body()
    assert set(resource) == {*resource_body(), "id", "system_id", "created_at"}
    second = (await add(client, actors.a, system["id"], name="取水许可台账")).json()

    listed = await client.get(f"/api/v1/systems/{system['id']}/resources", headers=actors.a)
    assert listed.status_code == 200
    assert listed.json()["items"] == [resource, second]
    after = (await client.get(f"/api/v1/systems/{system['id']}", headers=actors.a)).json()
    assert after["resource_count"] == 2
    assert after["version"] == 3

    envelopes = await outbox_events(registry_app, "govit.registry.system.updated")
    assert [e["data"]["resource_count"] for e in envelopes] == [1, 2]
    assert envelopes[0]["data"]["changed"] == ["resource_count", "resources"]


@pytest.mark.parametrize(
    ("sharing_connected", "share_types", "data_shared"),
    [
        (True, [], False),
        (True, ["none"], False),
        (True, ["none", "conditional"], True),
        (True, ["unconditional"], True),
        (False, ["unconditional", "conditional"], False),
    ],
)
async def test_data_counts_as_shared_when_connected_with_a_shared_resource(
    client: httpx.AsyncClient,
    actors: Actors,
    sharing_connected: bool,
    share_types: list[str],
    data_shared: bool,
) -> None:
    system = await create_system(
        client, actors.a, actors.unit_a, sharing_connected=sharing_connected
    )
    for share_type in share_types:
        assert (await add(client, actors.a, system["id"], share_type=share_type)).status_code == 201
    after = (await client.get(f"/api/v1/systems/{system['id']}", headers=actors.a)).json()
    assert after["facts"]["data_shared"] is data_shared


async def test_connecting_to_the_exchange_later_makes_the_data_shared(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    system = await create_system(client, actors.a, actors.unit_a, sharing_connected=False)
    await add(client, actors.a, system["id"], share_type="unconditional")
    response = await client.patch(
        f"/api/v1/systems/{system['id']}", json={"sharing_connected": True}, headers=actors.a
    )
    assert response.json()["facts"]["data_shared"] is True


async def test_a_retired_system_takes_no_resources(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    system = await create_system(client, actors.a, actors.unit_a, status="retired")
    problem(await add(client, actors.a, system["id"]), 409, "system_retired")
    listed = await client.get(f"/api/v1/systems/{system['id']}/resources", headers=actors.a)
    assert listed.json()["items"] == []


async def test_another_unit_can_neither_add_nor_list_resources(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    system = await create_system(client, actors.a, actors.unit_a)
    problem(await add(client, actors.b, system["id"]), 404, "not_found")
    problem(
        await client.get(f"/api/v1/systems/{system['id']}/resources", headers=actors.b),
        404,
        "not_found",
    )
    problem(await add(client, actors.other_authority, system["id"]), 404, "not_found")


@pytest.mark.parametrize("who", ["authority", "auditor", "platform"])
async def test_oversight_lists_resources_but_cannot_add_them(
    client: httpx.AsyncClient, actors: Actors, who: str
) -> None:
    system = await create_system(client, actors.a, actors.unit_a)
    await add(client, actors.a, system["id"])
    headers = getattr(actors, who)
    problem(await add(client, headers, system["id"]), 403, "forbidden")
    listed = await client.get(f"/api/v1/systems/{system['id']}/resources", headers=headers)
    assert len(listed.json()["items"]) == 1


@pytest.mark.parametrize(
    "overrides",
    [
        {"share_type": "open"},
        {"open_type": "unconditional"},
        {"name": ""},
        {"source": None},
        {"format": "x" * 51},
        {"format": "JSON\x00"},
        {"update_frequency": "每日\x00"},
        {"name": "水位\x1f"},
        {"owner": "水文站"},
    ],
)
async def test_a_malformed_resource_is_a_validation_problem(
    client: httpx.AsyncClient, actors: Actors, overrides: dict[str, object]
) -> None:
    system = await create_system(client, actors.a, actors.unit_a)
    problem(await add(client, actors.a, system["id"], **overrides), 422, "validation_failed")
    after = (await client.get(f"/api/v1/systems/{system['id']}", headers=actors.a)).json()
    assert after["resource_count"] == 0


async def test_resources_of_an_unknown_system_are_not_found(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    missing = "01a20000-0000-7000-8000-000000000000"
    problem(await add(client, actors.admin, missing), 404, "not_found")
    problem(await client.get(f"/api/v1/systems/{missing}/resources", headers=actors.admin), 404)
