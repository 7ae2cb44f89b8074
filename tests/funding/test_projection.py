"""The projection: facts from events only, each with its event; never older over newer;
a change that flips a gate is published with the gate's full state."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from fastapi import FastAPI

from tests.funding.conftest import NOW, cast, feed, new_project, outbox
from tests.support.fixtures import TokenFactory


async def view(
    client: httpx.AsyncClient, headers: dict[str, str], project_id: object
) -> dict[str, Any]:
    response = await client.get(f"/api/v1/funding/projects/{project_id}", headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_each_fact_remembers_the_event_that_set_it(
    client: httpx.AsyncClient, funding_app: FastAPI, token: TokenFactory
) -> None:
    p = new_project()
    system, approved = p.system(), p.approved()
    acceptance = p.filing("acceptance", passed=True)
    await feed(funding_app, system, approved, acceptance)
    facts = (await view(client, cast(token, p).finance, p.id))["facts"]
    assert facts["approved"]["value"] is True
    assert facts["approved"]["event"]["id"] == approved.id
    assert facts["approved"]["event"]["type"] == "govit.approval.project.approved"
    assert facts["systems_catalogued"]["event"]["id"] == system.id
    assert facts["acceptance_filed"] == {
        "value": True,
        "event": {
            "type": "govit.filing.acceptance.filed",
            "id": acceptance.id,
            "time": NOW.isoformat().replace("+00:00", "Z"),
        },
    }
    assert facts["supervisor_filed"] == {"value": False, "event": None}


async def test_an_older_event_never_overwrites_a_newer_fact(
    client: httpx.AsyncClient, funding_app: FastAPI, token: TokenFactory
) -> None:
    p = new_project()
    newer = p.system(version=3, data_shared=False)
    older = p.system(version=2, data_shared=True)  # arrives late (a redelivery, a replay)
    await feed(funding_app, p.approved(), newer, older)
    facts = (await view(client, cast(token, p).finance, p.id))["facts"]
    assert facts["data_shared"]["value"] is False
    assert facts["data_shared"]["event"]["id"] == newer.id

    status = p.status("suspended", version=5)
    await feed(funding_app, status, p.approved(version=4))  # version 4 after 5
    body = await view(client, cast(token, p).finance, p.id)
    assert body["status"] == "suspended"
    assert body["facts"]["suspended"]["event"]["id"] == status.id


async def test_a_flip_publishes_the_gate_with_its_state_and_version(
    client: httpx.AsyncClient, funding_app: FastAPI, token: TokenFactory
) -> None:
    p = new_project()
    await feed(funding_app, p.system(), p.approved(), p.filing("contract"))
    assert await outbox(funding_app, "govit.funding.gate.opened") == [
        e
        for e in await outbox(funding_app, "govit.funding.gate.opened")
        if e["data"]["category"] == "construction"
    ]
    await feed(funding_app, p.filing("acceptance", passed=True))
    opened = [
        e
        for e in await outbox(funding_app, "govit.funding.gate.opened")
        if e["subject"] == str(p.id)
    ]
    assert [(e["data"]["category"], e["data"]["version"]) for e in opened] == [
        ("construction", 1),
        ("operations", 1),
    ]
    assert opened[1]["data"]["violations"] == [] and opened[1]["data"]["open"] is True

    # Data no longer shared: operations closes (linfen-water:11); construction stays open.
    await feed(funding_app, p.system(version=2, at=NOW + timedelta(hours=1), data_shared=False))
    [closed] = [
        e
        for e in await outbox(funding_app, "govit.funding.gate.closed")
        if e["subject"] == str(p.id)
    ]
    assert closed["data"]["category"] == "operations"
    assert closed["data"]["version"] == 2
    assert [v["rule"] for v in closed["data"]["violations"]] == ["linfen-water:11"]
    gates = (await view(client, cast(token, p).finance, p.id))["gates"]
    assert gates["construction"]["open"] and not gates["operations"]["open"]


async def test_a_redelivered_state_flips_nothing(
    client: httpx.AsyncClient, funding_app: FastAPI, token: TokenFactory
) -> None:
    p = new_project()
    acceptance = p.filing("acceptance", passed=True)
    await feed(funding_app, p.system(), p.approved(), acceptance)
    before = await outbox(funding_app, "govit.funding.gate.")
    await feed(funding_app, acceptance, p.approved())  # the same versions again
    assert await outbox(funding_app, "govit.funding.gate.") == before


async def test_an_escalated_order_suspends_both_gates_until_resolved(
    client: httpx.AsyncClient, funding_app: FastAPI, token: TokenFactory
) -> None:
    from shared.ids import new_id

    p = new_project("jincheng")
    order = new_id()
    await feed(funding_app, p.system(), p.approved(), p.filing("acceptance", passed=True))
    headers = cast(token, p).finance
    assert (await view(client, headers, p.id))["gates"]["operations"]["open"]
    await feed(
        funding_app, p.rectification("open", order, 1), p.rectification("escalated", order, 2)
    )
    gates = (await view(client, headers, p.id))["gates"]
    assert [v["rule"] for v in gates["operations"]["violations"]] == ["jincheng:22"]
    assert not gates["construction"]["open"]
    await feed(funding_app, p.rectification("resolved", order, 3))
    assert (await view(client, headers, p.id))["gates"]["operations"]["open"]
