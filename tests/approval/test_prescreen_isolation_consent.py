"""The pre-screen's isolated-systems rule (linfen-water:11, xiangfen:11,
xinzhou-transport:10, jincheng:9, leshan:6) and xinzhou-transport's party-group consent
(xinzhou-transport:7, 10), through HTTP on the real database."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from services.approval.domain import PARTY_GROUP_CONSENT
from shared.policy import PROFILE_IDS, load_profile
from tests.approval.conftest import SHA, World, add_materials, create, feed, make_world, system_data
from tests.support.checks import problem
from tests.support.fixtures import TokenFactory

ISOLATED_RULE = {
    "linfen-water": "linfen-water:11",
    "xiangfen": "xiangfen:11",
    "xinzhou-transport": "xinzhou-transport:10",
    "jincheng": "jincheng:9",
    "leshan": "leshan:6",
}


def isolated_data(system_id: uuid.UUID, world: World, *, version: int = 1) -> dict[str, Any]:
    """A catalogued system the registry reports as not sharing: not connected to the
    sharing exchange, none of its resources shared."""
    data = system_data(system_id, world.lead, world.jurisdiction, version=version)
    data["sharing_connected"] = False
    data["facts"] = {**data["facts"], "data_shared": False}
    return data


def materials_of(jurisdiction: str) -> tuple[str, ...]:
    needed = load_profile(jurisdiction).materials_for("self_build")
    if jurisdiction == "xinzhou-transport":
        return (*needed, PARTY_GROUP_CONSENT)
    return needed


async def status(client: httpx.AsyncClient, world: World, project_id: str) -> str:
    got = await client.get(f"/api/v1/projects/{project_id}", headers=world.unit)
    return str(got.json()["status"])


@pytest.mark.parametrize("jurisdiction", PROFILE_IDS)
async def test_an_isolated_system_is_named_under_the_profiles_article_and_submits_once_shared(
    client: httpx.AsyncClient, approval_app: FastAPI, token: TokenFactory, jurisdiction: str
) -> None:
    world = await make_world(approval_app, token, jurisdiction)
    isolated = uuid.uuid4()
    assert await feed(
        approval_app, "govit.registry.system.registered", isolated_data(isolated, world)
    )
    project = await create(client, world, system_ids=[str(world.system), str(isolated)])
    await add_materials(client, world, project["id"], materials_of(jurisdiction))
    path = f"/api/v1/projects/{project['id']}/submit"
    body = problem(await client.post(path, headers=world.unit), 422, "prescreen_failed")
    assert [v["rule"] for v in body["violations"]] == [ISOLATED_RULE[jurisdiction]]
    violation = body["violations"][0]
    assert str(isolated) in violation["message_en"] and str(isolated) in violation["message_zh"]
    assert str(world.system) not in violation["message_en"]  # the sharing one is not named
    assert await status(client, world, project["id"]) == "draft"  # nothing stored
    # the registry reports the system connected and sharing: the same project submits
    shared = system_data(isolated, world.lead, jurisdiction, version=2)
    assert await feed(approval_app, "govit.registry.system.updated", shared)
    response = await client.post(path, headers=world.unit)
    assert response.status_code == 200, response.text


async def test_an_older_isolated_event_after_the_sharing_one_changes_nothing(
    client: httpx.AsyncClient, approval_app: FastAPI, xiangfen: World
) -> None:
    system = uuid.uuid4()
    shared = system_data(system, xiangfen.lead, "xiangfen", version=2)
    assert await feed(approval_app, "govit.registry.system.registered", shared)
    await feed(approval_app, "govit.registry.system.updated", isolated_data(system, xiangfen))
    project = await create(client, xiangfen, system_ids=[str(system)])
    await add_materials(client, xiangfen, project["id"])
    response = await client.post(f"/api/v1/projects/{project['id']}/submit", headers=xiangfen.unit)
    assert response.status_code == 200, response.text


async def test_an_operations_project_on_an_isolated_system_is_not_refused_by_the_rule(
    client: httpx.AsyncClient, approval_app: FastAPI, xiangfen: World
) -> None:
    """Operations build nothing: an existing system that does not share loses its
    operations money (funding's data_shared gate), approval does not refuse it."""
    isolated = uuid.uuid4()
    await feed(approval_app, "govit.registry.system.registered", isolated_data(isolated, xiangfen))
    for kind, refused in (("new", True), ("upgrade", True), ("operations", False)):
        project = await create(client, xiangfen, kind=kind, system_ids=[str(isolated)])
        await add_materials(client, xiangfen, project["id"])
        response = await client.post(
            f"/api/v1/projects/{project['id']}/submit", headers=xiangfen.unit
        )
        if refused:
            rules = [v["rule"] for v in problem(response, 422, "prescreen_failed")["violations"]]
            assert rules == ["xiangfen:11"], kind
        else:
            assert response.status_code == 200, response.text


async def test_every_violation_at_once_includes_the_isolated_system(
    client: httpx.AsyncClient, approval_app: FastAPI, token: TokenFactory
) -> None:
    world = await make_world(approval_app, token, "xinzhou-transport")
    isolated = uuid.uuid4()
    await feed(approval_app, "govit.registry.system.registered", isolated_data(isolated, world))
    unknown = uuid.uuid4()
    project = await create(
        client,
        world,
        system_ids=[str(unknown), str(isolated)],
        annual_budgets=[{"year": 2026, "amount": "1.00"}],
    )
    response = await client.post(f"/api/v1/projects/{project['id']}/submit", headers=world.unit)
    rules = [v["rule"] for v in problem(response, 422, "prescreen_failed")["violations"]]
    assert rules == [
        "xinzhou-transport:8",  # the unknown system, catalogue first
        "xinzhou-transport:10",  # the isolated one
        *["xinzhou-transport:7"] * 4,  # proposal, study, design, estimate
        "xinzhou-transport:7",  # the party group's consent
        "approval:budgets-add-up",
    ]


# --- xinzhou-transport:7, 10: the party group consents before the application goes up ------


async def test_xinzhou_transport_submits_only_with_the_party_groups_consent(
    client: httpx.AsyncClient, approval_app: FastAPI, token: TokenFactory
) -> None:
    world = await make_world(approval_app, token, "xinzhou-transport")
    project = await create(client, world)
    path = f"/api/v1/projects/{project['id']}"
    await add_materials(client, world, project["id"], materials_of("xinzhou-transport")[:-1])
    body = problem(await client.post(f"{path}/submit", headers=world.unit), 422, "prescreen_failed")
    assert [v["rule"] for v in body["violations"]] == ["xinzhou-transport:7"]
    assert PARTY_GROUP_CONSENT in body["violations"][0]["message_en"]
    assert "党组" in body["violations"][0]["message_zh"]
    assert await status(client, world, project["id"]) == "draft"
    # only the lead unit attaches it, like any material
    consent = {"type": PARTY_GROUP_CONSENT, "title": "局党组会议纪要.pdf", "sha256": SHA}
    for other in (world.co_unit, world.authority, world.reviewer):
        problem(await client.post(f"{path}/materials", json=consent, headers=other), 403)
    problem(await client.post(f"{path}/materials", json=consent, headers=world.stranger_unit), 404)
    added = await client.post(f"{path}/materials", json=consent, headers=world.unit)
    assert added.status_code == 201, added.text
    response = await client.post(f"{path}/submit", headers=world.unit)
    assert response.status_code == 200, response.text
    detail = (await client.get(path, headers=world.authority)).json()
    assert PARTY_GROUP_CONSENT in [m["type"] for m in detail["materials"]]


async def test_other_profiles_submit_without_a_party_group_consent(
    client: httpx.AsyncClient, xiangfen: World
) -> None:
    project = await create(client, xiangfen)
    await add_materials(client, xiangfen, project["id"])
    response = await client.post(f"/api/v1/projects/{project['id']}/submit", headers=xiangfen.unit)
    assert response.status_code == 200, response.text
