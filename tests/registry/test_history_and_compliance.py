"""A system's history (who changed what, oldest first) and its compliance under its profile."""

from __future__ import annotations

import uuid
from datetime import datetime

import httpx
import pytest

from tests.registry.conftest import (
    Actors,
    create_system,
    unit_in,
)
from tests.support.checks import problem
from tests.support.fixtures import TokenFactory, auth

PROFILES = ["linfen-water", "xiangfen", "xinzhou-transport", "leshan", "jincheng"]

# What each profile's registry rules cite (shared/policy/data/*.toml, [registry*] and
# resource_catalogue_required); None where the regulation has no such rule.
CITES: dict[str, dict[str, str | None]] = {
    "linfen-water": {
        "catalogue_first": "linfen-water:10",
        "resources": "linfen-water:9",
        "sharing": "linfen-water:11",
        "cloud": "linfen-water:29",
        "mlps": "linfen-water:30",
        "crypto": "linfen-water:30",
        "asset": None,
    },
    "xiangfen": {
        "catalogue_first": "xiangfen:10",
        "resources": "xiangfen:9",
        "sharing": "xiangfen:11",
        "cloud": "xiangfen:35",
        "mlps": "xiangfen:36",
        "crypto": "xiangfen:36",
        "asset": None,
    },
    "xinzhou-transport": {
        "catalogue_first": "xinzhou-transport:8",
        "resources": "xinzhou-transport:8",
        "sharing": "xinzhou-transport:10",
        "cloud": "xinzhou-transport:28",
        "mlps": "xinzhou-transport:31",
        "crypto": "xinzhou-transport:31",
        "asset": None,
    },
    "leshan": {
        "catalogue_first": "leshan:9",
        "resources": "leshan:20",
        "sharing": "leshan:11",
        "cloud": "leshan:8.3",
        "mlps": "leshan:51",
        "crypto": "leshan:51",
        "asset": "leshan:8.10",
    },
    "jincheng": {
        "catalogue_first": None,
        "resources": "jincheng:7",
        "sharing": "jincheng:9",
        "cloud": "jincheng:27",
        "mlps": "jincheng:28",
        "crypto": "jincheng:28",
        "asset": None,
    },
}
SHARED_RESOURCE = {
    "name": "实时水位数据",
    "source": "遥测终端",
    "format": "JSON",
    "update_frequency": "实时",
    "share_type": "unconditional",
    "open_type": "conditional",
}


async def compliance(client: httpx.AsyncClient, headers: dict[str, str], system_id: str) -> dict:
    response = await client.get(f"/api/v1/systems/{system_id}/compliance", headers=headers)
    assert response.status_code == 200, response.text
    body: dict = response.json()
    for violation in body["violations"]:
        assert set(violation) == {"rule", "message_zh", "message_en"}
        assert violation["message_zh"] and violation["message_en"]
    return body


def rules(body: dict) -> list[str]:
    return [v["rule"] for v in body["violations"]]


# --- history --------------------------------------------------------------------------


async def test_history_is_oldest_first_with_the_actor_of_each_change(
    client: httpx.AsyncClient, actors: Actors, token: TokenFactory
) -> None:
    creator = auth(
        token(roles=["unit"], org=actors.unit_a, jurisdiction="linfen-water", sub="zhang.san")
    )
    editor = auth(
        token(roles=["unit"], org=actors.unit_a, jurisdiction="linfen-water", sub="li.si")
    )
    system = await create_system(client, creator, actors.unit_a, cloud="migrating", mlps_level=None)
    path = f"/api/v1/systems/{system['id']}"
    await client.patch(path, json={"mlps_level": 3}, headers=editor)
    await client.patch(path, json={"cloud": "on_cloud"}, headers=actors.platform)
    await client.post(f"{path}/resources", json=SHARED_RESOURCE, headers=editor)

    response = await client.get(f"{path}/history", headers=actors.authority)
    assert response.status_code == 200
    items = response.json()["items"]
    assert [i["actor"] for i in items] == ["zhang.san", "li.si", "gov-cloud-platform", "li.si"]
    times = [datetime.fromisoformat(i["at"]) for i in items]
    assert times == sorted(times)
    created = items[0]["changes"]
    assert all(change["before"] is None for change in created.values())
    assert created["name"]["after"] == "水资源监测预警系统"
    assert created["cloud"]["after"] == "migrating"
    assert items[1]["changes"] == {"mlps_level": {"before": None, "after": 3}}
    assert items[2]["changes"] == {"cloud": {"before": "migrating", "after": "on_cloud"}}
    assert items[3]["changes"]["resource_count"] == {"before": 0, "after": 1}
    assert items[3]["changes"]["resources"]["after"]["name"] == "实时水位数据"


async def test_history_of_an_unknown_system_is_not_found(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    response = await client.get(f"/api/v1/systems/{uuid.uuid4()}/history", headers=actors.admin)
    problem(response, 404, "not_found")


# --- compliance ---------------------------------------------------------------------------


async def fully_compliant(
    client: httpx.AsyncClient, token: TokenFactory, jurisdiction: str
) -> tuple[str, dict[str, str]]:
    unit, headers = await unit_in(client, token, jurisdiction)
    system = await create_system(
        client,
        headers,
        unit,
        status="operating",
        cloud="on_cloud",
        sharing_connected=True,
        mlps_level=3,
        crypto_assessed=True,
        asset_registered=True,
    )
    added = await client.post(
        f"/api/v1/systems/{system['id']}/resources", json=SHARED_RESOURCE, headers=headers
    )
    assert added.status_code == 201, added.text
    return system["id"], headers


@pytest.mark.parametrize("jurisdiction", PROFILES)
async def test_a_fully_compliant_system_has_no_violations(
    client: httpx.AsyncClient, token: TokenFactory, jurisdiction: str
) -> None:
    system_id, headers = await fully_compliant(client, token, jurisdiction)
    body = await compliance(client, headers, system_id)
    assert body["violations"] == []
    assert body["profile"] == jurisdiction
    assert body["system_id"] == system_id
    assert body["facts"] == {
        "catalogued": True,
        "data_shared": True,
        "on_cloud": True,
        "secure": True,
    }


@pytest.mark.parametrize("jurisdiction", PROFILES)
async def test_compliance_cites_each_missing_duty_under_the_units_profile(
    client: httpx.AsyncClient, token: TokenFactory, jurisdiction: str
) -> None:
    unit, headers = await unit_in(client, token, jurisdiction)
    system = await create_system(
        client,
        headers,
        unit,
        cloud="not_migrated",
        sharing_connected=False,
        mlps_level=None,
        crypto_assessed=False,
        asset_registered=False,
    )
    cites = CITES[jurisdiction]
    expected = [
        cites[duty]
        for duty in ("resources", "sharing", "cloud", "mlps", "crypto", "asset")
        if cites[duty]
    ]
    assert rules(await compliance(client, headers, system["id"])) == expected


@pytest.mark.parametrize("jurisdiction", PROFILES)
async def test_leshan_alone_asks_for_asset_registration(
    client: httpx.AsyncClient, token: TokenFactory, jurisdiction: str
) -> None:
    system_id, headers = await fully_compliant(client, token, jurisdiction)
    await client.patch(
        f"/api/v1/systems/{system_id}", json={"asset_registered": False}, headers=headers
    )
    expected = ["leshan:8.10"] if jurisdiction == "leshan" else []
    assert rules(await compliance(client, headers, system_id)) == expected


@pytest.mark.parametrize("jurisdiction", PROFILES)
async def test_a_retired_system_no_longer_counts_as_catalogued(
    client: httpx.AsyncClient, token: TokenFactory, jurisdiction: str
) -> None:
    system_id, headers = await fully_compliant(client, token, jurisdiction)
    await client.patch(f"/api/v1/systems/{system_id}", json={"status": "retired"}, headers=headers)
    body = await compliance(client, headers, system_id)
    assert body["facts"]["catalogued"] is False
    first = CITES[jurisdiction]["catalogue_first"]
    assert rules(body) == ([first] if first else [])


@pytest.mark.parametrize("cloud", ["migrating", "not_migrated"])
async def test_a_system_off_the_government_cloud_cites_the_cloud_rule(
    client: httpx.AsyncClient, token: TokenFactory, cloud: str
) -> None:
    system_id, headers = await fully_compliant(client, token, "xinzhou-transport")
    await client.patch(f"/api/v1/systems/{system_id}", json={"cloud": cloud}, headers=headers)
    body = await compliance(client, headers, system_id)
    assert rules(body) == ["xinzhou-transport:28"]
    assert body["facts"]["on_cloud"] is False


async def test_an_exempt_system_with_a_reason_is_compliant_on_cloud(
    client: httpx.AsyncClient, token: TokenFactory
) -> None:
    system_id, headers = await fully_compliant(client, token, "xiangfen")
    response = await client.patch(
        f"/api/v1/systems/{system_id}",
        json={"cloud": "exempt", "cloud_exempt_reason": "涉密信息系统"},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    assert rules(await compliance(client, headers, system_id)) == []


async def test_compliance_is_read_by_oversight_not_by_other_units(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    system = await create_system(client, actors.a, actors.unit_a)
    path = f"/api/v1/systems/{system['id']}/compliance"
    for headers in (actors.authority, actors.auditor, actors.admin):
        assert (await client.get(path, headers=headers)).status_code == 200
    problem(await client.get(path, headers=actors.b), 404)
    problem(await client.get(path, headers=actors.other_authority), 404)
