"""On the real NATS: upstream events reach the service's consumers (projects, units, a
missed acceptance deadline → a suggested order), and the service's own events leave
through the outbox relay, each valid against its schema. Funding's gates are not
built yet, so the escalation and resolution are asserted on the wire."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from nats.js import JetStreamContext

from services.evaluation.app import build_app
from shared.events import Event
from shared.events.bus import STREAM, Bus
from tests.evaluation.conftest import evaluation_settings, event, project_data
from tests.support.checks import assert_cloudevent, wait_until
from tests.support.databases import Databases
from tests.support.fixtures import Stack, TokenFactory, auth


@pytest.fixture
async def running(stack: Stack, databases: Databases, dev_keys: object) -> AsyncIterator[FastAPI]:
    """The service as deployed: consumers on, relay on, its own committed database."""
    url = await databases.migrated("evaluation")
    app = build_app(evaluation_settings(stack, url, outbox_poll_seconds=0.2))
    async with app.router.lifespan_context(app):
        yield app


async def publish(bus: Bus, ev: Event) -> None:
    await bus.js.publish(
        ev.type, json.dumps(ev.envelope()).encode(), headers={"Nats-Msg-Id": ev.id}
    )


async def test_a_missed_deadline_on_the_bus_suggests_an_order_whose_lifecycle_leaves_by_relay(
    running: FastAPI, stack: Stack, token: TokenFactory
) -> None:
    bus: Bus = running.state.bus
    jurisdiction = "jincheng"
    unit = uuid.uuid4()
    unit_event = {
        "id": str(unit),
        "name": "晋城市某局",
        "jurisdiction": jurisdiction,
        "parent": None,
    }
    project = project_data(unit, jurisdiction)
    missed = {
        "id": str(uuid.uuid4()),
        "project_id": project["id"],
        "org": str(unit),
        "jurisdiction": jurisdiction,
        "type": "acceptance_report",
        "rule": "jincheng:21",
        "due_on": "2026-11-20",
        "status": "missed",
        "met_by": None,
        "version": 2,
    }
    watcher: JetStreamContext.PushSubscription = await bus.js.subscribe(
        "govit.evaluation.rectification.*", ordered_consumer=True, stream=STREAM
    )
    await publish(bus, event("govit.registry.unit.registered", unit_event))
    await publish(bus, event("govit.approval.project.approved", project))
    await publish(bus, event("govit.filing.deadline.missed", missed))

    authority = auth(token(roles=["authority"], jurisdiction=jurisdiction))
    transport = httpx.ASGITransport(app=running)
    async with httpx.AsyncClient(transport=transport, base_url="http://evaluation") as client:
        found: list[dict[str, Any]] = []

        async def suggested() -> bool:
            # Only this project's: the session's stream also carries the deadlines
            # other tests (filing's scheduler) missed in the same jurisdiction.
            response = await client.get(
                "/api/v1/rectifications", params={"project_id": project["id"]}, headers=authority
            )
            found[:] = response.json()["items"]
            return bool(found)

        # A new durable drains the session's backlog first (after filing's tests, some
        # hundreds of missed deadlines): allow for it.
        await wait_until(suggested, seconds=60, what="a suggested order from the missed deadline")
        [order] = found
        assert (order["status"], order["reason"], order["rule"]) == (
            "suggested",
            "acceptance_delayed",
            "jincheng:22",
        )
        url = f"/api/v1/rectifications/{order['id']}"
        steps = [
            ("confirm", {"due_on": "2027-01-15"}),
            ("escalate", {"grounds": "refused"}),
            ("resolve", {}),
        ]
        for step, body in steps:
            response = await client.post(f"{url}/{step}", json=body, headers=authority)
            assert response.status_code == 200, response.text

    # The order's events leave through the relay, in order, each its full state.
    seen: list[dict[str, Any]] = []
    while len(seen) < 3:
        message = await watcher.next_msg(timeout=20)
        envelope = json.loads(message.data)
        if envelope["subject"] == order["id"]:
            seen.append(envelope)
    await watcher.unsubscribe()
    for envelope in seen:
        assert_cloudevent(envelope, "/govit/evaluation")
    assert [e["type"].rsplit(".", 1)[1] for e in seen] == ["ordered", "escalated", "resolved"]
    assert [e["data"]["status"] for e in seen] == ["open", "escalated", "resolved"]
    assert [e["data"]["version"] for e in seen] == [2, 3, 4]
    assert all(e["data"]["project_id"] == project["id"] for e in seen)
