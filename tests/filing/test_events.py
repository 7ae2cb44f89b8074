"""On the real NATS: approval's project events reach the projection through the
consumer, the service's events leave through the outbox relay, and a year loaded
through one replica is the calendar of every replica (pending deadlines settled)."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from nats.js import JetStreamContext
from sqlalchemy import insert, select

from services.filing.app import build_app
from services.filing.models import CalendarYear, Obligation
from shared.events import Event
from shared.events.bus import STREAM, Bus
from shared.ids import new_id
from tests.filing.conftest import at, docs, filing_settings, project_data, publish_project
from tests.filing.test_deadlines import YEAR_2027
from tests.support.checks import assert_cloudevent, wait_until
from tests.support.databases import Databases
from tests.support.fixtures import Stack, TokenFactory, auth


@pytest.fixture
async def running(stack: Stack, databases: Databases, dev_keys: object) -> AsyncIterator[FastAPI]:
    """The service as deployed: consumer, relay and scheduler on, its own database."""
    url = await databases.migrated("filing")
    durable = f"filing-projects-{uuid.uuid4().hex[:8]}"  # not the session app's consumer
    app = build_app(filing_settings(stack, url, outbox_poll_seconds=0.2, projects_durable=durable))
    async with app.router.lifespan_context(app):
        yield app


def event(type_: str, data: dict[str, Any]) -> Event:
    return Event(
        id=str(new_id()),
        type=type_,
        source="/govit/approval",
        subject=data["id"],
        time=datetime.now(UTC),
        data=data,
        request_id=None,
    )


async def publish(bus: Bus, ev: Event) -> None:
    await bus.js.publish(
        ev.type, json.dumps(ev.envelope()).encode(), headers={"Nats-Msg-Id": ev.id}
    )


async def test_an_approval_on_the_bus_opens_obligations_and_a_filing_leaves_by_relay(
    running: FastAPI, token: TokenFactory
) -> None:
    bus: Bus = running.state.bus
    unit = uuid.uuid4()
    project = project_data(unit, "jincheng")
    watcher: JetStreamContext.PushSubscription = await bus.js.subscribe(
        "govit.filing.contract.filed", ordered_consumer=True, stream=STREAM
    )
    await publish(
        bus,
        event("govit.approval.project.submitted", {**project, "status": "submitted", "version": 1}),
    )
    await publish(bus, event("govit.approval.project.approved", {**project, "version": 2}))
    owner = auth(token(roles=["unit"], org=unit, jurisdiction="jincheng"))
    transport = httpx.ASGITransport(app=running)
    async with httpx.AsyncClient(transport=transport, base_url="http://filing") as client:

        async def opened() -> bool:
            r = await client.get(
                "/api/v1/obligations", params={"project_id": project["id"]}, headers=owner
            )
            return [o["type"] for o in r.json()["items"]] == ["acceptance_application"]

        await wait_until(opened, what="the approval's obligations")
        body = {
            "project_id": project["id"],
            "type": "contract",
            "event_date": "2026-09-30",
            "filed_on": "2026-10-13",
            "documents": docs("contract"),
        }
        filed = await client.post("/api/v1/filings", json=body, headers=owner)
        assert filed.status_code == 201, filed.text
    # The watcher reads the stream from its start: skip the contract filings other
    # tests of the session (funding's, say) put there before this one.
    envelope: dict[str, Any] = {}
    while envelope.get("subject") != filed.json()["id"]:
        envelope = json.loads((await watcher.next_msg(timeout=20)).data)
    assert_cloudevent(envelope, "/govit/filing")
    assert envelope["data"]["id"] == filed.json()["id"]
    assert (envelope["data"]["due_on"], envelope["data"]["on_time"]) == ("2026-10-13", True)
    await watcher.unsubscribe()


async def test_a_year_loaded_through_one_replica_is_every_replicas_calendar(
    stack: Stack, databases: Databases, dev_keys: object, token: TokenFactory
) -> None:
    url = await databases.migrated("filing")
    settings = {"outbox_relay_enabled": False, "deadline_check_seconds": 0.1}
    apps = [build_app(filing_settings(stack, url, **settings)) for _ in range(2)]
    async with apps[0].router.lifespan_context(apps[0]), apps[1].router.lifespan_context(apps[1]):
        for app in apps:
            app.state.clock = at(datetime(2026, 12, 20).date())
        auditor = auth(token(roles=["auditor"], jurisdiction="xiangfen"))
        admin = auth(token(roles=["admin"], jurisdiction="xiangfen"))
        clients = [
            httpx.AsyncClient(transport=httpx.ASGITransport(app=a), base_url="http://filing")
            for a in apps
        ]
        a, b = clients
        loaded = await a.put("/api/v1/calendar/2027", json=YEAR_2027, headers=admin)
        assert loaded.status_code == 200, loaded.text
        shown = await b.get("/api/v1/calendar/2027", headers=auditor)
        assert shown.status_code == 200 and shown.json()["source"] == "loaded"
        due = await b.get(
            "/api/v1/calendar/workdays", params={"start": "2026-12-18", "days": 30}, headers=auditor
        )
        assert due.json()["due_on"] == "2027-02-01"

        # A deadline left pending by a filing that raced the load is settled by the
        # scheduler: here the year 2028 arrives in the database without a recompute.
        unit = uuid.uuid4()
        data = project_data(unit, "xiangfen")
        await publish_project(apps[1], data)
        xf = auth(token(roles=["authority"], jurisdiction="xiangfen"))
        apps[1].state.clock = at(datetime(2027, 12, 20).date())
        apps[0].state.clock = at(datetime(2027, 12, 20).date())
        accepted = await b.post(
            "/api/v1/acceptances",
            json={"project_id": data["id"], "accepted_on": "2027-12-17", "passed": True},
            headers=xf,
        )
        assert accepted.json()["obligation"]["status"] == "pending_calendar", accepted.text
        async with apps[0].state.db.transaction() as session:
            await session.execute(
                insert(CalendarYear).values(
                    year=2028,
                    holidays=["2028-01-01"],
                    workdays=[],
                    source="test",
                    version=1,
                    loaded_by="test",
                    loaded_at=datetime.now(UTC),
                )
            )

        async def settled() -> bool:
            async with apps[0].state.db.transaction() as session:
                row = await session.scalar(
                    select(Obligation).where(
                        Obligation.id == uuid.UUID(accepted.json()["obligation"]["id"])
                    )
                )
                return row is not None and row.status == "open" and row.due_on is not None

        await wait_until(settled, what="the pending deadline settled")
        for c in clients:
            await c.aclose()
