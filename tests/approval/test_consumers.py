"""Other services' events: status moves recorded in history with the event as cause,
unit sanctions that bar new submissions (leshan:32, 33, 51), and projections that a
redelivered or out-of-order event leaves right."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from services.approval.app import build_app
from services.approval.consumers import consumers
from services.approval.models import catalogued_systems, known_units
from shared.clock import FixedClock
from shared.events.envelope import new_event
from tests.approval.conftest import (
    NOW,
    World,
    add_materials,
    approval_settings,
    approved,
    create,
    feed,
    system_data,
)
from tests.approval.test_decisions import outbox
from tests.support.checks import problem, wait_until
from tests.support.databases import Databases
from tests.support.fixtures import Stack


def filing(project: dict[str, Any], type_: str, *, passed: bool | None = None) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "project_id": project["id"],
        "org": project["org"],
        "jurisdiction": project["jurisdiction"],
        "type": type_,
        "event_date": "2026-07-01",
        "filed_on": "2026-07-03",
        "due_on": None,
        "on_time": None,
        "obligation_id": None,
        "passed": passed,
        "trial_run_started_on": None,
        "catalogue_joined": None,
        "secure_controllable": None,
        "version": 1,
    }


def acceptance(project: dict[str, Any], passed: bool) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "project_id": project["id"],
        "org": project["org"],
        "jurisdiction": project["jurisdiction"],
        "accepted_on": "2026-07-01",
        "passed": passed,
        "opinion": "验收意见",
        "version": 1,
    }


def order(
    project: dict[str, Any],
    status: str,
    version: int,
    *,
    reason: str = "acceptance_delayed",
    order_id: str | None = None,
) -> dict[str, Any]:
    return {
        "id": order_id or str(uuid.uuid4()),
        "project_id": project["id"],
        "org": project["org"],
        "jurisdiction": project["jurisdiction"],
        "reason": reason,
        "status": status,
        "due_on": "2026-12-31",
        "ordered_on": "2026-06-01",
        "rule": "leshan:47",
        "version": version,
    }


async def status(client: httpx.AsyncClient, world: World, project: dict[str, Any]) -> str:
    body = (await client.get(f"/api/v1/projects/{project['id']}", headers=world.unit)).json()
    result: str = body["status"]
    return result


async def history(
    client: httpx.AsyncClient, world: World, project: dict[str, Any]
) -> list[dict[str, Any]]:
    response = await client.get(f"/api/v1/projects/{project['id']}/history", headers=world.unit)
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def test_filings_move_the_project_with_the_event_as_cause(
    client: httpx.AsyncClient, approval_app: FastAPI, leshan: World
) -> None:
    project = await approved(client, leshan)
    assert await feed(approval_app, "govit.filing.contract.filed", filing(project, "contract"))
    assert await status(client, leshan, project) == "in_construction"
    assert await feed(approval_app, "govit.filing.acceptance.recorded", acceptance(project, True))
    assert await status(client, leshan, project) == "accepted"
    data = filing(project, "acceptance", passed=True)
    assert await feed(approval_app, "govit.filing.acceptance.filed", data)
    assert await status(client, leshan, project) == "in_operation"
    moves = [h for h in await history(client, leshan, project) if h["cause"]]
    assert [(h["action"], h["cause"], h["actor"]) for h in moves] == [
        ("in_construction", "govit.filing.contract.filed", "event:govit.filing.contract.filed"),
        ("accepted", "govit.filing.acceptance.recorded", "event:govit.filing.acceptance.recorded"),
        ("in_operation", "govit.filing.acceptance.filed", "event:govit.filing.acceptance.filed"),
    ]
    assert moves[-1]["rule"] == "leshan:31"
    events = await outbox(approval_app, "govit.approval.project.status_changed")
    assert [(e["data"]["from"], e["data"]["to"]) for e in events] == [
        ("approved", "in_construction"),
        ("in_construction", "accepted"),
        ("accepted", "in_operation"),
    ]


async def test_a_late_or_redelivered_event_never_moves_a_project_back(
    client: httpx.AsyncClient, approval_app: FastAPI, leshan: World
) -> None:
    project = await approved(client, leshan)
    assert await feed(
        approval_app, "govit.filing.acceptance.filed", filing(project, "acceptance", passed=True)
    )
    assert await status(client, leshan, project) == "in_operation"
    late = filing(project, "contract")
    assert await feed(approval_app, "govit.filing.contract.filed", late)  # handled, no move
    assert await status(client, leshan, project) == "in_operation"
    # The same event delivered twice: the inbox runs the handler once.
    event = new_event(
        "govit.filing.contract.filed",
        source="/govit/filing",
        data=filing(project, "contract"),
        time=datetime.now(UTC),
        subject=str(uuid.uuid4()),
        validate=False,
    )
    [consumer] = [c for c in consumers(approval_app) if c.durable == "approval-contracts"]
    async with approval_app.state.db.transaction() as session:
        assert await consumer.handle_once(session, event)
    async with approval_app.state.db.transaction() as session:
        assert not await consumer.handle_once(session, event)
    assert len([h for h in await history(client, leshan, project) if h["cause"]]) == 1


async def test_an_event_for_a_project_approval_does_not_know_changes_nothing(
    approval_app: FastAPI, client: httpx.AsyncClient
) -> None:
    ghost = {"id": str(uuid.uuid4()), "org": str(uuid.uuid4()), "jurisdiction": "leshan"}
    assert await feed(approval_app, "govit.filing.contract.filed", filing(ghost, "contract"))
    assert await feed(
        approval_app, "govit.evaluation.rectification.escalated", order(ghost, "escalated", 1)
    )


async def test_rectification_suspends_resumes_and_ignores_an_older_version(
    client: httpx.AsyncClient, approval_app: FastAPI, leshan: World
) -> None:
    project = await approved(client, leshan)
    await feed(approval_app, "govit.filing.contract.filed", filing(project, "contract"))
    order_id = str(uuid.uuid4())
    escalated = order(project, "escalated", 2, order_id=order_id)
    resolved = order(project, "resolved", 3, order_id=order_id)
    assert await feed(approval_app, "govit.evaluation.rectification.escalated", escalated, order_id)
    assert await status(client, leshan, project) == "suspended"
    assert await feed(approval_app, "govit.evaluation.rectification.resolved", resolved, order_id)
    assert await status(client, leshan, project) == "in_construction"
    # The escalation replayed late (a new event id, version 2): the order stays resolved.
    assert await feed(approval_app, "govit.evaluation.rectification.escalated", escalated, order_id)
    assert await status(client, leshan, project) == "in_construction"
    events = await outbox(approval_app, "govit.approval.project.status_changed")
    assert [(e["data"]["from"], e["data"]["to"], e["data"]["rule"]) for e in events][-2:] == [
        ("in_construction", "suspended", "leshan:47"),
        ("suspended", "in_construction", "leshan:47"),
    ]


async def test_a_termination_request_terminates_the_project(
    client: httpx.AsyncClient, approval_app: FastAPI, leshan: World
) -> None:
    project = await approved(client, leshan)
    data = order(project, "termination_requested", 4)
    assert await feed(approval_app, "govit.evaluation.rectification.termination_requested", data)
    assert await status(client, leshan, project) == "terminated"
    [event] = await outbox(approval_app, "govit.approval.project.terminated")
    assert event["data"]["rule"] == "leshan:47" and data["id"] in event["data"]["reason"]
    assert (await history(client, leshan, project))[-1]["cause"] == (
        "govit.evaluation.rectification.termination_requested"
    )


async def submit_new(client: httpx.AsyncClient, world: World) -> httpx.Response:
    project = await create(client, world, name="新项目")
    await add_materials(client, world, project["id"])
    return await client.post(f"/api/v1/projects/{project['id']}/submit", headers=world.unit)


async def test_leshan_32_a_failed_acceptance_bars_new_projects_until_passed(
    client: httpx.AsyncClient, approval_app: FastAPI, leshan: World
) -> None:
    project = await approved(client, leshan)
    assert await feed(approval_app, "govit.filing.acceptance.recorded", acceptance(project, False))
    refused = problem(await submit_new(client, leshan), 422, "prescreen_failed")
    assert [v["rule"] for v in refused["violations"]] == ["leshan:32"]
    assert await feed(approval_app, "govit.filing.acceptance.recorded", acceptance(project, True))
    assert (await submit_new(client, leshan)).status_code == 200


async def test_xiangfen_has_no_such_sanction(
    client: httpx.AsyncClient, approval_app: FastAPI, xiangfen: World
) -> None:
    project = await approved(client, xiangfen)
    assert await feed(approval_app, "govit.filing.acceptance.recorded", acceptance(project, False))
    assert (await submit_new(client, xiangfen)).status_code == 200


async def test_leshan_51_security_escalation_bars_new_systems_until_resolved(
    client: httpx.AsyncClient, approval_app: FastAPI, leshan: World
) -> None:
    project = await approved(client, leshan)
    order_id = str(uuid.uuid4())
    data = order(project, "escalated", 2, reason="security_noncompliant", order_id=order_id)
    await feed(approval_app, "govit.evaluation.rectification.escalated", data, order_id)
    refused = problem(await submit_new(client, leshan), 422, "prescreen_failed")
    assert [v["rule"] for v in refused["violations"]] == ["leshan:51"]
    resolved = order(project, "resolved", 3, reason="security_noncompliant", order_id=order_id)
    await feed(approval_app, "govit.evaluation.rectification.resolved", resolved, order_id)
    assert (await submit_new(client, leshan)).status_code == 200


async def test_leshan_33_data_not_shared_bars_the_next_year(
    client: httpx.AsyncClient, approval_app: FastAPI, leshan: World
) -> None:
    project = await approved(client, leshan)
    data = order(project, "escalated", 2, reason="data_not_shared")
    await feed(approval_app, "govit.evaluation.rectification.escalated", data)
    assert (await submit_new(client, leshan)).status_code == 200  # this year: not yet
    approval_app.state.clock = FixedClock(datetime(2027, 3, 1, tzinfo=UTC))
    body = {"annual_budgets": [{"year": 2027, "amount": "6000000.00"}]}
    fresh = await create(client, leshan, **body)
    await add_materials(client, leshan, fresh["id"])
    response = await client.post(f"/api/v1/projects/{fresh['id']}/submit", headers=leshan.unit)
    assert [v["rule"] for v in problem(response, 422)["violations"]] == ["leshan:33"]


async def test_a_system_projection_keeps_the_newest_version(
    client: httpx.AsyncClient, approval_app: FastAPI, leshan: World
) -> None:
    retired = system_data(leshan.system, leshan.lead, "leshan", version=3, status="retired")
    older = system_data(leshan.system, leshan.lead, "leshan", version=2)
    assert await feed(approval_app, "govit.registry.system.updated", retired)
    assert await feed(approval_app, "govit.registry.system.updated", older)  # late
    project = await create(client, leshan)
    await add_materials(client, leshan, project["id"])
    response = await client.post(f"/api/v1/projects/{project['id']}/submit", headers=leshan.unit)
    assert [v["rule"] for v in problem(response, 422)["violations"]] == ["leshan:9"]


async def test_consumers_take_events_from_nats(
    stack: Stack, databases: Databases, dev_keys: object
) -> None:
    """The running workers: events published on JetStream reach the projections, and
    the same message published twice is applied once."""
    url = await databases.migrated("approval")
    app = build_app(approval_settings(stack, url, outbox_relay_enabled=False))
    async with app.router.lifespan_context(app):
        app.state.clock = FixedClock(NOW)
        unit, system = uuid.uuid4(), uuid.uuid4()
        for type_, data in (
            (
                "govit.registry.unit.registered",
                {"id": str(unit), "name": "乐山市某局", "jurisdiction": "leshan", "parent": None},
            ),
            ("govit.registry.system.registered", system_data(system, unit, "leshan")),
        ):
            event = new_event(
                type_,
                source="/govit/registry",
                data=data,
                time=datetime.now(UTC),
                subject=data["id"],
            )
            raw = json.dumps(event.envelope(), ensure_ascii=False).encode()
            for _ in range(2):  # a redelivery (a new message, the same event id)
                await app.state.bus.js.publish(type_, raw)

        async def arrived() -> bool:
            async with app.state.db.sessions() as session:
                units = (
                    await session.execute(select(known_units.c.id).where(known_units.c.id == unit))
                ).all()
                systems = (
                    await session.execute(
                        select(catalogued_systems.c.version).where(
                            catalogued_systems.c.id == system
                        )
                    )
                ).all()
                return len(units) == 1 and len(systems) == 1

        await wait_until(arrived, what="the registry's events in approval's projections")


async def test_a_contract_filed_while_suspended_counts_when_the_project_resumes(
    client: httpx.AsyncClient, approval_app: FastAPI, leshan: World
) -> None:
    project = await approved(client, leshan)
    order_id = str(uuid.uuid4())
    escalated = order(project, "escalated", 2, order_id=order_id)
    await feed(approval_app, "govit.evaluation.rectification.escalated", escalated, order_id)
    assert await status(client, leshan, project) == "suspended"
    await feed(approval_app, "govit.filing.contract.filed", filing(project, "contract"))
    assert await status(client, leshan, project) == "suspended"
    resolved = order(project, "resolved", 3, order_id=order_id)
    await feed(approval_app, "govit.evaluation.rectification.resolved", resolved, order_id)
    assert await status(client, leshan, project) == "in_construction"
