"""Opinions, reviews and the decision: required opinions first, amounts never above
what was asked, a number unique per jurisdiction and year, events with full state."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from services.approval.app import build_app
from services.approval.models import events
from tests.approval.conftest import (
    NOW,
    World,
    approval,
    approval_settings,
    approved,
    feed,
    give_opinions,
    make_world,
    submitted,
)
from tests.support.checks import problem
from tests.support.databases import Databases
from tests.support.fixtures import Stack, TokenFactory


async def outbox(app: FastAPI, type_: str) -> list[dict[str, Any]]:
    async with app.state.db.sessions() as session:
        rows = await session.execute(
            select(events.outbox.c.envelope)
            .where(events.outbox.c.type == type_)
            .order_by(events.outbox.c.created_at)
        )
        return [row.envelope for row in rows]


async def test_a_decision_is_refused_while_a_required_opinion_is_missing(
    client: httpx.AsyncClient, leshan: World
) -> None:
    project = await submitted(client, leshan)
    path = f"/api/v1/projects/{project['id']}"
    for topic in ("cyberspace", "crypto", "public_security", "finance"):
        response = await client.post(
            f"{path}/opinions",
            json={"topic": topic, "verdict": "agree", "comment": "同意"},
            headers=leshan.reviewer,
        )
        assert response.status_code == 201, response.text
    body = problem(
        await client.post(f"{path}/decision", json=approval(), headers=leshan.authority),
        409,
        "opinion_missing",
    )
    assert body["topics"] == ["technical"]
    assert [v["rule"] for v in body["violations"]] == ["leshan:22"]
    assert (await client.get(path, headers=leshan.unit)).json()["status"] == "submitted"
    response = await client.post(
        f"{path}/opinions",
        json={"topic": "technical", "verdict": "agree_with_conditions", "comment": "补充等保方案"},
        headers=leshan.authority,
    )
    assert response.status_code == 201
    response = await client.post(f"{path}/decision", json=approval(), headers=leshan.authority)
    assert response.status_code == 200, response.text


async def test_approval_assigns_a_number_and_publishes_the_full_state(
    client: httpx.AsyncClient, approval_app: FastAPI, leshan: World
) -> None:
    project = await approved(client, leshan)
    assert project["status"] == "approved"
    assert project["number"] == "leshan-2026-0001"
    assert project["approved_total"] == "6000000.00"
    assert project["approved_on"] == "2026-06-15"
    assert project["planned_completion_on"] == "2027-12-31"
    second = await approved(client, leshan, name="第二个项目")
    assert second["number"] == "leshan-2026-0002"
    [first_event, _] = await outbox(approval_app, "govit.approval.project.approved")
    data = first_event["data"]
    assert data["number"] == "leshan-2026-0001"
    assert data["approved_annual_budgets"] == [
        {"year": 2026, "amount": "4000000.00"},
        {"year": 2027, "amount": "2000000.00"},
    ]
    assert data["system_ids"] == [str(leshan.system)]
    assert (data["profile"], data["profile_version"]) == ("leshan", "2022-1")
    assert data["version"] == 3  # created 1, submitted 2, approved 3
    submitted_events = await outbox(approval_app, "govit.approval.project.submitted")
    assert [e["data"]["status"] for e in submitted_events] == ["submitted", "submitted"]


async def test_numbers_are_per_jurisdiction(
    client: httpx.AsyncClient, approval_app: FastAPI, leshan: World, xiangfen: World
) -> None:
    assert (await approved(client, leshan))["number"] == "leshan-2026-0001"
    assert (await approved(client, xiangfen))["number"] == "xiangfen-2026-0001"


async def test_approved_amounts_never_above_what_was_asked(
    client: httpx.AsyncClient, leshan: World
) -> None:
    project = await submitted(client, leshan)
    await give_opinions(client, leshan, project["id"])
    path = f"/api/v1/projects/{project['id']}/decision"
    above = approval(
        "6000000.01",
        approved_annual_budgets=[
            {"year": 2026, "amount": "4000000.01"},
            {"year": 2027, "amount": "2000000.00"},
        ],
    )
    body = problem(
        await client.post(path, json=above, headers=leshan.authority), 422, "decision_invalid"
    )
    assert {v["rule"] for v in body["violations"]} == {"approval:approved-within-asked"}
    wrong_year = approval(
        "6000000.00",
        approved_annual_budgets=[
            {"year": 2026, "amount": "4000000.00"},
            {"year": 2028, "amount": "2000000.00"},
        ],
    )
    body = problem(
        await client.post(path, json=wrong_year, headers=leshan.authority), 422, "decision_invalid"
    )
    assert [v["rule"] for v in body["violations"]] == ["approval:approved-years-asked"]
    short = approval("5000000.00")  # budgets add up to 4,000,000 + 1,000,000
    response = await client.post(path, json=short, headers=leshan.authority)
    assert response.status_code == 200, response.text
    assert response.json()["approved_total"] == "5000000.00"


async def test_bad_decisions_store_nothing(client: httpx.AsyncClient, leshan: World) -> None:
    from tests.approval.conftest import create

    draft = await create(client, leshan)
    body = problem(
        await client.post(
            f"/api/v1/projects/{draft['id']}/decision", json=approval(), headers=leshan.authority
        ),
        409,
        "status_transition_invalid",
    )
    assert body["violations"][0]["rule"] == "approval:lifecycle"
    project = await submitted(client, leshan)
    path = f"/api/v1/projects/{project['id']}/decision"
    for bad in (
        {"outcome": "approved"},
        {"outcome": "rejected"},
        approval("-5.00"),
        approval(6000000),
        {**approval(), "extra": 1},
    ):
        problem(
            await client.post(path, json=bad, headers=leshan.authority), 422, "validation_failed"
        )
    for headers in (leshan.unit, leshan.reviewer, leshan.finance, leshan.admin):
        problem(await client.post(path, json=approval(), headers=headers), 403, "role_required")
    problem(await client.post(path, json=approval(), headers=leshan.other_authority), 404)
    after = (await client.get(f"/api/v1/projects/{project['id']}", headers=leshan.unit)).json()
    assert after["status"] == "submitted" and after["number"] is None


async def test_rejection_with_reasons(
    client: httpx.AsyncClient, approval_app: FastAPI, leshan: World
) -> None:
    project = await submitted(client, leshan)
    response = await client.post(
        f"/api/v1/projects/{project['id']}/decision",
        json={"outcome": "rejected", "reasons": "与市级平台重复建设"},
        headers=leshan.authority,
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "rejected" and response.json()["number"] is None
    [event] = await outbox(approval_app, "govit.approval.project.rejected")
    assert event["data"]["reasons"] == "与市级平台重复建设"
    again = await client.post(
        f"/api/v1/projects/{project['id']}/terminate",
        json={"reason": "x"},
        headers=leshan.authority,
    )
    assert (
        problem(again, 409, "status_transition_invalid")["violations"][0]["rule"]
        == "approval:final"
    )


async def test_reviews_on_five_dimensions_with_the_units_latest_assessment(
    client: httpx.AsyncClient, approval_app: FastAPI, leshan: World
) -> None:
    for year, score in ((2024, 71), (2025, 88.5)):
        assessment = {
            "id": str(uuid.uuid4()),
            "org": str(leshan.lead),
            "jurisdiction": "leshan",
            "year": year,
            "score": score,
            "grade": "良好",
            "comment": f"{year}年度考核",
            "version": 1,
        }
        assert await feed(approval_app, "govit.evaluation.assessment.published", assessment)
    project = await submitted(client, leshan)
    path = f"/api/v1/projects/{project['id']}"
    review = {
        "need": 90,
        "intensiveness": 80,
        "feasibility": 85,
        "budget": 70,
        "performance_goals": 75,
        "comment": "需求明确",
    }
    response = await client.post(f"{path}/reviews", json=review, headers=leshan.authority)
    assert response.status_code == 201, response.text
    problem(await client.post(f"{path}/reviews", json=review, headers=leshan.reviewer), 403)
    problem(
        await client.post(
            f"{path}/reviews", json={**review, "need": 101}, headers=leshan.authority
        ),
        422,
        "validation_failed",
    )
    detail = (await client.get(path, headers=leshan.reviewer)).json()
    assert [r["need"] for r in detail["reviews"]] == [90]
    assert detail["unit_assessment"]["year"] == 2025
    assert detail["unit_assessment"]["score"] == "88.50"


async def test_opinions_only_while_submitted_and_only_by_reviewers(
    client: httpx.AsyncClient, leshan: World
) -> None:
    from tests.approval.conftest import create

    draft = await create(client, leshan)
    opinion = {"topic": "crypto", "verdict": "disagree", "comment": "密评缺失"}
    path = f"/api/v1/projects/{draft['id']}/opinions"
    problem(await client.post(path, json=opinion, headers=leshan.reviewer), 409)
    problem(await client.post(path, json=opinion, headers=leshan.unit), 403, "role_required")


async def test_project_numbers_are_unique_under_20_concurrent_approvals(
    stack: Stack, databases: Databases, token: TokenFactory
) -> None:
    """Committed, on separate connections: 20 decisions at once, 20 distinct numbers."""
    from shared.clock import FixedClock

    url = await databases.migrated("approval")
    app = build_app(
        approval_settings(stack, url, outbox_relay_enabled=False, consumers_enabled=False)
    )
    async with app.router.lifespan_context(app):
        app.state.clock = FixedClock(NOW)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://approval") as c:
            world = await make_world(app, token, "xiangfen")
            ids = [(await submitted(c, world, name=f"项目{i}"))["id"] for i in range(20)]

            async def decide(project_id: str) -> httpx.Response:
                return await c.post(
                    f"/api/v1/projects/{project_id}/decision",
                    json=approval(),
                    headers=world.authority,
                )

            answers = await asyncio.gather(*(decide(i) for i in ids))
            assert [a.status_code for a in answers] == [200] * 20, [a.text for a in answers]
            numbers = sorted(a.json()["number"] for a in answers)
            assert numbers == [f"xiangfen-2026-{n:04d}" for n in range(1, 21)]
