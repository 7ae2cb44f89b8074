"""Applying: a project is created as a draft under its unit's profile, takes materials,
and is submitted through the pre-screen (API.md "Approval"), on the real database."""

from __future__ import annotations

import uuid

import httpx
from fastapi import FastAPI

from tests.approval.conftest import (
    SHA,
    World,
    add_materials,
    create,
    feed,
    project_body,
    submitted,
    system_data,
    unit_data,
)
from tests.support.checks import problem


async def test_a_project_is_created_as_a_draft_with_its_profile_stamped(
    client: httpx.AsyncClient, leshan: World
) -> None:
    project = await create(client, leshan)
    assert project["status"] == "draft"
    assert project["profile"] == project["jurisdiction"] == "leshan"
    assert project["profile_version"] == "2022-1"
    assert project["org"] == project["lead_org"] == str(leshan.lead)
    assert project["co_orgs"] == [str(leshan.co)]
    assert project["number"] is None
    assert project["total_investment"] == "6000000.00"
    got = await client.get(f"/api/v1/projects/{project['id']}", headers=leshan.unit)
    assert got.status_code == 200
    body = got.json()
    assert body["status"] == "draft" and body["materials"] == [] and body["opinions"] == []
    assert body["required_opinions"] == [
        "cyberspace",
        "crypto",
        "public_security",
        "finance",
        "technical",
    ]
    assert body["unit_assessment"] is None


async def test_a_unit_the_registry_has_not_announced_is_409_retry_later(
    client: httpx.AsyncClient, leshan: World, token: object
) -> None:
    ghost = uuid.uuid4()
    from tests.support.fixtures import auth

    headers = auth(token(roles=["unit"], org=ghost, jurisdiction="leshan"))  # type: ignore[operator]
    response = await client.post(
        "/api/v1/projects", json=project_body(leshan, org=str(ghost), co_orgs=[]), headers=headers
    )
    body = problem(response, 409, "unit_unknown")
    assert body["units"] == [str(ghost)] and "retry" in body["detail"].lower()
    assert response.headers["Retry-After"]


async def test_a_unit_applies_for_itself_only(client: httpx.AsyncClient, leshan: World) -> None:
    response = await client.post(
        "/api/v1/projects", json=project_body(leshan), headers=leshan.co_unit
    )
    problem(response, 403, "forbidden")
    response = await client.post(
        "/api/v1/projects", json=project_body(leshan), headers=leshan.authority
    )
    problem(response, 403, "forbidden")


async def test_bad_input_is_refused_and_nothing_stored(
    client: httpx.AsyncClient, leshan: World
) -> None:
    bad = [
        ({"total_investment": "-1.00"}, "validation_failed"),
        ({"total_investment": "1.001"}, "validation_failed"),
        ({"total_investment": 100}, "validation_failed"),
        ({"annual_budgets": [{"year": 2020, "amount": "1.00"}]}, "budgets_invalid"),
        (
            {
                "annual_budgets": [
                    {"year": 2026, "amount": "1.00"},
                    {"year": 2026, "amount": "1.00"},
                ]
            },
            "budgets_invalid",
        ),
        ({"system_ids": []}, "validation_failed"),
        ({"system_ids": ["not-a-uuid"]}, "validation_failed"),
        ({"co_orgs": [str(uuid.uuid4())]}, "unit_unknown"),
        ({"delivery": "magic"}, "validation_failed"),
        ({"declarations": {"unknown_flag": True}}, "validation_failed"),
    ]
    for overrides, code in bad:
        response = await client.post(
            "/api/v1/projects", json=project_body(leshan, **overrides), headers=leshan.unit
        )
        status = 409 if code == "unit_unknown" else 422
        problem(response, status, code)
    listed = await client.get("/api/v1/projects", headers=leshan.unit)
    assert listed.json()["items"] == []


async def test_a_co_builder_of_another_jurisdiction_is_refused(
    client: httpx.AsyncClient, approval_app: FastAPI, leshan: World
) -> None:
    elsewhere = uuid.uuid4()
    await feed(approval_app, "govit.registry.unit.registered", unit_data(elsewhere, "jincheng"))
    response = await client.post(
        "/api/v1/projects",
        json=project_body(leshan, co_orgs=[str(elsewhere)]),
        headers=leshan.unit,
    )
    problem(response, 422, "co_org_invalid")


async def test_another_units_system_is_refused_at_creation(
    client: httpx.AsyncClient, approval_app: FastAPI, leshan: World
) -> None:
    theirs = uuid.uuid4()
    await feed(
        approval_app,
        "govit.registry.system.registered",
        system_data(theirs, leshan.stranger, "leshan"),
    )
    response = await client.post(
        "/api/v1/projects", json=project_body(leshan, system_ids=[str(theirs)]), headers=leshan.unit
    )
    body = problem(response, 422, "system_not_permitted")
    assert body["system_ids"] == [str(theirs)]


# --- access ------------------------------------------------------------------------------


async def test_a_unit_cannot_read_another_units_draft_a_co_builder_can(
    client: httpx.AsyncClient, leshan: World
) -> None:
    project = await create(client, leshan)
    path = f"/api/v1/projects/{project['id']}"
    for headers in (leshan.unit, leshan.co_unit, leshan.authority, leshan.auditor, leshan.admin):
        assert (await client.get(path, headers=headers)).status_code == 200
        assert (await client.get(f"{path}/history", headers=headers)).status_code == 200
    for headers in (leshan.stranger_unit, leshan.other_authority):
        problem(await client.get(path, headers=headers), 404, "not_found")
        problem(await client.get(f"{path}/history", headers=headers), 404, "not_found")
    listed = await client.get("/api/v1/projects", headers=leshan.stranger_unit)
    assert listed.json()["items"] == []
    listed = await client.get("/api/v1/projects", headers=leshan.co_unit)
    assert [p["id"] for p in listed.json()["items"]] == [project["id"]]


async def test_only_the_lead_unit_writes(client: httpx.AsyncClient, leshan: World) -> None:
    project = await create(client, leshan)
    material = {"type": "feasibility_study", "title": "可研.pdf", "sha256": SHA}
    path = f"/api/v1/projects/{project['id']}"
    for headers in (leshan.co_unit, leshan.authority, leshan.admin):
        problem(await client.post(f"{path}/materials", json=material, headers=headers), 403)
        problem(await client.post(f"{path}/submit", headers=headers), 403)
    problem(await client.post(f"{path}/submit", headers=leshan.stranger_unit), 404)


async def test_a_token_of_another_jurisdiction_than_its_unit_is_refused(
    client: httpx.AsyncClient, leshan: World, token: object
) -> None:
    from tests.support.fixtures import auth

    wrong = auth(token(roles=["unit"], org=leshan.lead, jurisdiction="jincheng"))  # type: ignore[operator]
    problem(await client.get("/api/v1/projects", headers=wrong), 403, "token_jurisdiction_mismatch")


async def test_lists_filter_by_org_and_status_in_keyset_pages(
    client: httpx.AsyncClient, leshan: World
) -> None:
    ids = [(await create(client, leshan, name=f"项目{i}"))["id"] for i in range(5)]
    await add_materials(client, leshan, ids[0])
    assert (
        await client.post(f"/api/v1/projects/{ids[0]}/submit", headers=leshan.unit)
    ).status_code == 200
    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (
            await client.get("/api/v1/projects", params=params, headers=leshan.authority)
        ).json()
        seen += [p["id"] for p in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids
    drafts = await client.get("/api/v1/projects?status=draft", headers=leshan.authority)
    assert [p["id"] for p in drafts.json()["items"]] == ids[1:]
    mine = await client.get(f"/api/v1/projects?org={leshan.lead}", headers=leshan.authority)
    assert len(mine.json()["items"]) == 5
    none = await client.get(f"/api/v1/projects?org={leshan.co}", headers=leshan.authority)
    assert none.json()["items"] == []
    problem(
        await client.get("/api/v1/projects?cursor=bogus", headers=leshan.unit),
        422,
        "cursor_invalid",
    )


# --- submission and the pre-screen -------------------------------------------------------------


async def test_submit_moves_to_submitted_and_publishes(
    client: httpx.AsyncClient, leshan: World
) -> None:
    project = await create(client, leshan)
    await add_materials(client, leshan, project["id"])
    response = await client.post(f"/api/v1/projects/{project['id']}/submit", headers=leshan.unit)
    assert response.status_code == 200
    assert response.json()["status"] == "submitted"
    history = (
        await client.get(f"/api/v1/projects/{project['id']}/history", headers=leshan.unit)
    ).json()
    actions = [h["action"] for h in history["items"]]
    assert actions == ["created", "material_added", "material_added", "submitted"]
    assert history["items"][-1]["changes"]["status"] == {"before": "draft", "after": "submitted"}
    again = await client.post(f"/api/v1/projects/{project['id']}/submit", headers=leshan.unit)
    body = problem(again, 409, "status_transition_invalid")
    assert body["violations"][0]["rule"] == "approval:lifecycle"


async def test_an_uncatalogued_system_is_named_and_the_project_submits_once_it_arrives(
    client: httpx.AsyncClient, approval_app: FastAPI, leshan: World
) -> None:
    pending = uuid.uuid4()
    project = await create(client, leshan, system_ids=[str(leshan.system), str(pending)])
    await add_materials(client, leshan, project["id"])
    path = f"/api/v1/projects/{project['id']}"
    body = problem(
        await client.post(f"{path}/submit", headers=leshan.unit), 422, "prescreen_failed"
    )
    assert [v["rule"] for v in body["violations"]] == ["leshan:9"]
    assert str(pending) in body["violations"][0]["message_en"]
    assert (await client.get(path, headers=leshan.unit)).json()["status"] == "draft"
    await feed(
        approval_app,
        "govit.registry.system.registered",
        system_data(pending, leshan.lead, "leshan"),
    )
    response = await client.post(f"{path}/submit", headers=leshan.unit)
    assert response.status_code == 200, response.text


async def test_the_prescreen_returns_every_violation_at_once(
    client: httpx.AsyncClient, approval_app: FastAPI, leshan: World
) -> None:
    bare = uuid.uuid4()
    await feed(
        approval_app,
        "govit.registry.system.registered",
        system_data(bare, leshan.lead, "leshan", resource_count=0),
    )
    project = await create(
        client,
        leshan,
        system_ids=[str(uuid.uuid4()), str(bare)],
        annual_budgets=[{"year": 2026, "amount": "1.00"}],
        declarations={"new_datacenter_or_hardware": True, "unregistered_assets": True},
    )
    response = await client.post(f"/api/v1/projects/{project['id']}/submit", headers=leshan.unit)
    rules = [v["rule"] for v in problem(response, 422, "prescreen_failed")["violations"]]
    assert rules == [
        "leshan:9",
        "leshan:20",
        "leshan:18",
        "leshan:18",
        "approval:budgets-add-up",
        "leshan:8.1",
        "leshan:8.10",
    ]


async def test_leshan_18_threshold_exactly_and_one_fen_above(
    client: httpx.AsyncClient, leshan: World
) -> None:
    for total, ok in (("5000000.00", True), ("5000000.01", False)):
        project = await create(
            client,
            leshan,
            total_investment=total,
            annual_budgets=[{"year": 2026, "amount": total}],
        )
        await add_materials(client, leshan, project["id"], ("implementation_plan",))
        response = await client.post(
            f"/api/v1/projects/{project['id']}/submit", headers=leshan.unit
        )
        if ok:
            assert response.status_code == 200, response.text
        else:
            rules = [v["rule"] for v in problem(response, 422, "prescreen_failed")["violations"]]
            assert rules == ["leshan:18", "leshan:18", "leshan:18.3"]


async def test_a_mandated_project_above_the_threshold_may_use_the_plan(
    client: httpx.AsyncClient, leshan: World
) -> None:
    project = await create(
        client,
        leshan,
        total_investment="9000000.00",
        annual_budgets=[{"year": 2026, "amount": "9000000.00"}],
        merged_plan_ground="mandated",
    )
    await add_materials(client, leshan, project["id"], ("implementation_plan",))
    response = await client.post(f"/api/v1/projects/{project['id']}/submit", headers=leshan.unit)
    assert response.status_code == 200, response.text


async def test_an_upgrade_of_a_project_not_yet_accepted_is_refused_leshan_8_8(
    client: httpx.AsyncClient, leshan: World
) -> None:
    from tests.approval.conftest import approved

    await approved(client, leshan)
    upgrade = await create(client, leshan, kind="upgrade", name="升级改造")
    await add_materials(client, leshan, upgrade["id"])
    response = await client.post(f"/api/v1/projects/{upgrade['id']}/submit", headers=leshan.unit)
    rules = [v["rule"] for v in problem(response, 422, "prescreen_failed")["violations"]]
    assert rules == ["leshan:8.8"]


async def test_materials_only_on_a_draft(client: httpx.AsyncClient, leshan: World) -> None:
    project = await submitted(client, leshan)
    response = await client.post(
        f"/api/v1/projects/{project['id']}/materials",
        json={"type": "proposal", "title": "x.pdf", "sha256": SHA},
        headers=leshan.unit,
    )
    problem(response, 409, "status_transition_invalid")
    response = await client.post(
        f"/api/v1/projects/{project['id']}/materials",
        json={"type": "proposal", "title": "x.pdf", "sha256": "XYZ"},
        headers=leshan.unit,
    )
    problem(response, 422, "validation_failed")


async def test_the_list_answers_in_the_documented_shape(
    client: httpx.AsyncClient, leshan: World
) -> None:
    from services.approval.schemas import ProjectDetail, ProjectPage

    project = await submitted(client, leshan)
    page = (await client.get("/api/v1/projects", headers=leshan.unit)).json()
    ProjectPage.model_validate(page)  # the read path skips response_model validation
    assert page["items"][0]["id"] == project["id"]
    detail = await client.get(f"/api/v1/projects/{project['id']}", headers=leshan.unit)
    ProjectDetail.model_validate(detail.json())
