"""Across services on the real NATS: an escalated rectification reaches funding's
projection and closes the project's gates; its resolution reopens them.

Both apps run as deployed (evaluation's relay on, funding's consumers on), each on
its own database; the project reaches both from approval's event on the bus.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from services.evaluation.app import build_app
from services.funding.app import FundingSettings
from services.funding.app import build_app as build_funding
from shared.events.bus import Bus
from tests.evaluation.conftest import evaluation_settings, event, project_data
from tests.support.checks import wait_until
from tests.support.databases import Databases
from tests.support.fixtures import Stack, TokenFactory, auth, service_settings

ESCALATED = "A rectification order was escalated; the project's funds are suspended."


@pytest.fixture
async def both(
    stack: Stack, databases: Databases, dev_keys: object
) -> AsyncIterator[tuple[FastAPI, FastAPI]]:
    evaluation = build_app(
        evaluation_settings(stack, await databases.migrated("evaluation"), outbox_poll_seconds=0.2)
    )
    funding_url = await databases.migrated("funding")
    prefix = f"funding-{uuid.uuid4().hex[:8]}"  # its own durables, whatever ran before
    funding = build_funding(
        service_settings(FundingSettings, stack, funding_url, consumer_prefix=prefix)
    )
    async with (
        evaluation.router.lifespan_context(evaluation),
        funding.router.lifespan_context(funding),
    ):
        yield evaluation, funding


async def test_an_escalated_order_closes_funding_gates_and_its_resolution_reopens_them(
    both: tuple[FastAPI, FastAPI], token: TokenFactory
) -> None:
    evaluation, funding = both
    jurisdiction = "xiangfen"
    unit = uuid.uuid4()
    project = project_data(unit, jurisdiction)
    bus: Bus = evaluation.state.bus
    approved = event("govit.approval.project.approved", project)
    await bus.js.publish(
        approved.type,
        json.dumps(approved.envelope()).encode(),
        headers={"Nats-Msg-Id": approved.id},
    )
    authority = auth(token(roles=["authority"], jurisdiction=jurisdiction))
    finance = auth(token(roles=["finance"], jurisdiction=jurisdiction))
    money_url = f"/api/v1/funding/projects/{project['id']}"
    async with (
        httpx.AsyncClient(transport=httpx.ASGITransport(app=evaluation), base_url="http://e") as ev,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=funding), base_url="http://f") as fu,
    ):
        view: dict[str, Any] = {}

        async def funding_sees(escalated: bool) -> bool:
            response = await fu.get(money_url, headers=finance)
            if response.status_code != 200:
                return False
            view.update(response.json())
            messages = [
                v["message_en"] for gate in view["gates"].values() for v in gate["violations"]
            ]
            return (ESCALATED in messages) == escalated

        async def ordered() -> bool:
            body = {
                "project_id": project["id"],
                "reason": "unauthorised_change",
                "due_on": "2027-06-30",
            }
            response = await ev.post("/api/v1/rectifications", json=body, headers=authority)
            view["order"] = response.json()
            return response.status_code == 201

        await wait_until(lambda: funding_sees(False), what="funding's project")
        before = view["gates"]
        await wait_until(ordered, what="evaluation's project projection")
        order = view["order"]
        url = f"/api/v1/rectifications/{order['id']}"
        response = await ev.post(f"{url}/escalate", json={"grounds": "refused"}, headers=authority)
        assert response.status_code == 200, response.text

        await wait_until(lambda: funding_sees(True), what="the escalation closing the gates")
        for gate in view["gates"].values():
            assert gate["open"] is False
            rules = [v["rule"] for v in gate["violations"] if v["message_en"] == ESCALATED]
            assert rules == ["xiangfen:28"]

        response = await ev.post(f"{url}/resolve", json={}, headers=authority)
        assert response.status_code == 200, response.text
        await wait_until(lambda: funding_sees(False), what="the resolution reopening the gates")
        # Back to what held before the escalation (other gate items are funding's own).
        assert view["gates"] == before
