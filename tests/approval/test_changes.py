"""Changes (leshan:29 self-adjustment against a major change, leshan:28) and their
decisions; termination by the authority (leshan:30)."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI

from tests.approval.conftest import World, approved, create
from tests.approval.test_decisions import outbox
from tests.support.checks import problem


def change(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "new_total": "6000000.00",
        "adjusted_amount": "900000.00",  # 15 % of 6,000,000.00
        "goals_changed": False,
        "content": "调整部分建设内容",
        "reason": "技术方案优化",
    }
    body.update(overrides)
    return body


async def test_leshan_29_exactly_15_percent_is_a_self_adjustment_one_fen_above_is_major(
    client: httpx.AsyncClient, approval_app: FastAPI, leshan: World
) -> None:
    project = await approved(client, leshan)
    path = f"/api/v1/projects/{project['id']}/changes"
    exact = await client.post(path, json=change(), headers=leshan.unit)
    assert exact.status_code == 201, exact.text
    assert exact.json()["classification"] == "self_adjustment"
    assert exact.json()["status"] == "recorded" and exact.json()["rule"] == "leshan:29"
    above = await client.post(path, json=change(adjusted_amount="900000.01"), headers=leshan.unit)
    assert above.status_code == 201, above.text
    assert above.json()["classification"] == "major_change"
    assert above.json()["status"] == "pending" and above.json()["rule"] == "leshan:28"
    events = await outbox(approval_app, "govit.approval.project.changed")
    assert [e["data"]["change"]["classification"] for e in events] == [
        "self_adjustment",
        "major_change",
    ]
    detail = (await client.get(f"/api/v1/projects/{project['id']}", headers=leshan.unit)).json()
    assert [c["classification"] for c in detail["changes"]] == ["self_adjustment", "major_change"]
    assert detail["approved_total"] == "6000000.00"  # a self-adjustment moves no total


async def test_a_higher_total_or_new_goals_are_major(
    client: httpx.AsyncClient, leshan: World
) -> None:
    project = await approved(client, leshan)
    path = f"/api/v1/projects/{project['id']}/changes"
    budgets = [{"year": 2026, "amount": "4000000.00"}, {"year": 2027, "amount": "2000000.01"}]
    higher = await client.post(
        path,
        json=change(new_total="6000000.01", adjusted_amount="0.00", annual_budgets=budgets),
        headers=leshan.unit,
    )
    assert higher.json()["classification"] == "major_change"
    goals = await client.post(
        path, json=change(goals_changed=True, adjusted_amount="1.00"), headers=leshan.unit
    )
    assert goals.json()["classification"] == "major_change"


async def test_xiangfen_any_change_is_major(client: httpx.AsyncClient, xiangfen: World) -> None:
    project = await approved(client, xiangfen)
    response = await client.post(
        f"/api/v1/projects/{project['id']}/changes",
        json=change(adjusted_amount="0.01"),
        headers=xiangfen.unit,
    )
    assert response.status_code == 201, response.text
    assert response.json()["classification"] == "major_change"
    assert response.json()["rule"] == "xiangfen:20"


async def test_leshan_28_a_major_change_carried_out_is_refused(
    client: httpx.AsyncClient, leshan: World
) -> None:
    project = await approved(client, leshan)
    response = await client.post(
        f"/api/v1/projects/{project['id']}/changes",
        json=change(goals_changed=True, already_carried_out=True),
        headers=leshan.unit,
    )
    body = problem(response, 422, "change_refused")
    assert [v["rule"] for v in body["violations"]] == ["leshan:28"]
    detail = (await client.get(f"/api/v1/projects/{project['id']}", headers=leshan.unit)).json()
    assert detail["changes"] == []


async def test_an_approved_major_change_updates_the_approved_total_and_budgets(
    client: httpx.AsyncClient, leshan: World
) -> None:
    project = await approved(client, leshan)
    budgets = [{"year": 2026, "amount": "4000000.00"}, {"year": 2027, "amount": "2500000.00"}]
    created = await client.post(
        f"/api/v1/projects/{project['id']}/changes",
        json=change(new_total="6500000.00", adjusted_amount="500000.00", annual_budgets=budgets),
        headers=leshan.unit,
    )
    assert created.json()["classification"] == "major_change"
    path = f"/api/v1/projects/{project['id']}/changes/{created.json()['id']}/decision"
    problem(await client.post(path, json={"outcome": "approved"}, headers=leshan.unit), 403)
    decided = await client.post(path, json={"outcome": "approved"}, headers=leshan.authority)
    assert decided.status_code == 200, decided.text
    assert decided.json()["status"] == "approved"
    detail = (await client.get(f"/api/v1/projects/{project['id']}", headers=leshan.unit)).json()
    assert detail["approved_total"] == "6500000.00"
    assert detail["approved_annual_budgets"] == budgets
    again = await client.post(path, json={"outcome": "rejected"}, headers=leshan.authority)
    problem(again, 409, "change_not_pending")


async def test_a_major_change_of_the_total_states_its_budgets(
    client: httpx.AsyncClient, leshan: World
) -> None:
    project = await approved(client, leshan)
    path = f"/api/v1/projects/{project['id']}/changes"
    problem(
        await client.post(path, json=change(new_total="7000000.00"), headers=leshan.unit),
        422,
        "change_refused",
    )
    wrong = [{"year": 2026, "amount": "1.00"}]
    body = problem(
        await client.post(
            path, json=change(new_total="7000000.00", annual_budgets=wrong), headers=leshan.unit
        ),
        422,
        "change_refused",
    )
    assert [v["rule"] for v in body["violations"]] == ["approval:budgets-add-up"]
    problem(
        await client.post(path, json=change(new_total="-1.00"), headers=leshan.unit),
        422,
        "validation_failed",
    )


async def test_changes_only_on_approved_projects_by_the_lead_unit(
    client: httpx.AsyncClient, leshan: World
) -> None:
    draft = await create(client, leshan)
    response = await client.post(
        f"/api/v1/projects/{draft['id']}/changes", json=change(), headers=leshan.unit
    )
    problem(response, 409, "status_transition_invalid")
    project = await approved(client, leshan)
    path = f"/api/v1/projects/{project['id']}/changes"
    problem(await client.post(path, json=change(), headers=leshan.co_unit), 403, "forbidden")
    problem(await client.post(path, json=change(), headers=leshan.stranger_unit), 404)


async def test_termination_by_the_authority_cites_leshan_30(
    client: httpx.AsyncClient, approval_app: FastAPI, leshan: World
) -> None:
    project = await approved(client, leshan)
    path = f"/api/v1/projects/{project['id']}/terminate"
    problem(
        await client.post(path, json={"reason": "x"}, headers=leshan.unit), 403, "role_required"
    )
    problem(await client.post(path, json={}, headers=leshan.authority), 422, "validation_failed")
    response = await client.post(
        path, json={"reason": "外部环境变化，目标无法实现"}, headers=leshan.authority
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "terminated"
    [event] = await outbox(approval_app, "govit.approval.project.terminated")
    assert event["data"]["rule"] == "leshan:30"
    assert event["data"]["reason"] == "外部环境变化，目标无法实现"
    history = (
        await client.get(f"/api/v1/projects/{project['id']}/history", headers=leshan.unit)
    ).json()["items"]
    assert history[-1]["action"] == "terminated" and history[-1]["rule"] == "leshan:30"
    draft = await create(client, leshan)
    problem(
        await client.post(
            f"/api/v1/projects/{draft['id']}/terminate",
            json={"reason": "x"},
            headers=leshan.authority,
        ),
        409,
        "status_transition_invalid",
    )
