from __future__ import annotations

import httpx

from tests.registry.conftest import Actors, outbox_events, system_body


async def test_unit_registers_a_system_and_reads_it_back(
    client: httpx.AsyncClient, actors: Actors, registry_app: object
) -> None:
    created = await client.post(
        "/api/v1/systems", json=system_body(actors.unit_a), headers=actors.a
    )
    assert created.status_code == 201, created.text
    system = created.json()
    assert system["facts"] == {
        "catalogued": True,
        "data_shared": False,
        "on_cloud": True,
        "secure": True,
    }
    got = await client.get(f"/api/v1/systems/{system['id']}", headers=actors.a)
    assert got.status_code == 200
    assert (
        await client.get(f"/api/v1/systems/{system['id']}", headers=actors.b)
    ).status_code == 404
    envelopes = await outbox_events(registry_app, "govit.registry.system.registered")  # type: ignore[arg-type]
    assert [e["data"]["id"] for e in envelopes] == [system["id"]]
    page = await client.get("/api/v1/systems", headers=actors.authority)
    assert [s["id"] for s in page.json()["items"]] == [system["id"]]
    comp = await client.get(f"/api/v1/systems/{system['id']}/compliance", headers=actors.auditor)
    assert comp.status_code == 200, comp.text
    print(comp.json())
    hist = await client.get(f"/api/v1/systems/{system['id']}/history", headers=actors.auditor)
    print(hist.json())
