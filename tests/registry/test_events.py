"""The registry's events: CloudEvents 1.0 envelopes, schema-valid, delivered to JetStream.

(The ``client`` fixture also checks every envelope each test writes, at its end.)
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from services.registry.models import events
from shared.events.bus import STREAM, Bus
from tests.registry.conftest import (
    SOURCE,
    Actors,
    all_outbox_events,
    create_system,
    fresh_registry,
    make_unit,
    system_body,
)
from tests.support.checks import assert_cloudevent, wait_until
from tests.support.databases import Databases
from tests.support.fixtures import Stack, TokenFactory, auth

REGISTERED = "govit.registry.system.registered"


async def test_every_event_the_registry_writes_matches_its_schema(
    client: httpx.AsyncClient, actors: Actors, registry_app: FastAPI
) -> None:
    system = await create_system(client, actors.a, actors.unit_a, cloud="migrating")
    path = f"/api/v1/systems/{system['id']}"
    await client.patch(path, json={"cloud": "on_cloud"}, headers=actors.platform)
    await client.patch(path, json={"mlps_level": None, "name": "新名称"}, headers=actors.a)
    await client.post(
        f"{path}/resources",
        json={
            "name": "水位",
            "source": "遥测",
            "format": "CSV",
            "update_frequency": "每日",
            "share_type": "none",
            "open_type": "none",
        },
        headers=actors.a,
    )
    await client.patch(path, json={"status": "retired"}, headers=actors.a)
    csv = (
        f"org,name,status,network,cloud\r\n{actors.unit_a},导入系统,planned,intranet,migrating\r\n"
    )
    imported = await client.post(
        "/api/v1/systems:import",
        content=csv.encode(),
        headers={**actors.a, "Content-Type": "text/csv"},
    )
    assert imported.status_code == 201, imported.text

    envelopes = await all_outbox_events(registry_app)
    assert [e["type"] for e in envelopes] == [
        "govit.registry.unit.registered",
        "govit.registry.unit.registered",
        REGISTERED,
        "govit.registry.system.updated",
        "govit.registry.system.updated",
        "govit.registry.system.updated",
        "govit.registry.system.updated",
        REGISTERED,
    ]
    for envelope in envelopes:
        assert_cloudevent(envelope, SOURCE)
    assert len({e["id"] for e in envelopes}) == len(envelopes), "event ids are unique"
    versions = [e["data"]["version"] for e in envelopes if e["subject"] == system["id"]]
    assert versions == [1, 2, 3, 4, 5]
    changed = [e["data"].get("changed") for e in envelopes if e["subject"] == system["id"]]
    assert changed == [
        None,
        ["cloud"],
        ["mlps_level", "name"],
        ["resource_count", "resources"],
        ["status"],
    ]


async def test_the_outbox_row_carries_the_envelopes_type_and_subject(
    client: httpx.AsyncClient, actors: Actors, registry_app: FastAPI
) -> None:
    system = await create_system(client, actors.a, actors.unit_a)
    async with registry_app.state.db.sessions() as session:
        rows = (
            await session.execute(
                select(events.outbox).where(events.outbox.c.subject == system["id"])
            )
        ).all()
    [outbox_row] = rows
    assert outbox_row.type == REGISTERED
    assert str(outbox_row.id) == outbox_row.envelope["id"]
    assert outbox_row.sent_at is None  # the relay is off in the rolled-back fixture


async def test_a_committed_system_reaches_jetstream_through_the_relay(
    stack: Stack, databases: Databases, token: TokenFactory
) -> None:
    async with fresh_registry(
        stack, databases, outbox_relay_enabled=True, outbox_poll_seconds=0.2
    ) as (app, client):
        admin = auth(token(roles=["admin"], jurisdiction="leshan"))
        unit = await make_unit(client, admin, "乐山市数字经济局", "leshan")
        headers = auth(token(roles=["unit"], org=unit, jurisdiction="leshan"))
        created = await client.post("/api/v1/systems", json=system_body(unit), headers=headers)
        assert created.status_code == 201, created.text
        system = created.json()

        async def sent() -> bool:
            async with app.state.db.transaction() as session:
                unsent = await session.scalar(
                    select(events.outbox.c.id).where(events.outbox.c.sent_at.is_(None)).limit(1)
                )
            return unsent is None

        await wait_until(sent, what="the relay marks every outbox row sent")

        bus = await Bus.connect(stack.nats_url, name="test-registry-delivery", wait_seconds=5)
        try:
            found = await _find_in_stream(bus, REGISTERED, system["id"])
        finally:
            await bus.close()
        msg_id, envelope = found
        assert_cloudevent(envelope, SOURCE)
        assert msg_id == envelope["id"], "Nats-Msg-Id is the event id (de-duplication)"
        assert envelope["type"] == REGISTERED
        assert envelope["data"]["id"] == system["id"]
        assert envelope["data"]["org"] == str(unit)
        assert envelope["data"]["jurisdiction"] == "leshan"
        assert envelope["data"]["facts"]["catalogued"] is True


async def _find_in_stream(
    bus: Bus, subject: str, system_id: str, seconds: float = 10
) -> tuple[str, dict[str, Any]]:
    """Read ``subject`` from the start of the stream until the system's event turns up."""
    sub = await bus.js.subscribe(subject, ordered_consumer=True, stream=STREAM)
    found: list[tuple[str, dict[str, Any]]] = []

    async def next_matches() -> bool:
        try:
            msg = await sub.next_msg(timeout=0.5)
        except TimeoutError:
            return False
        envelope = json.loads(msg.data)
        if envelope.get("subject") == system_id:
            found.append(((msg.headers or {}).get("Nats-Msg-Id", ""), envelope))
            return True
        return False

    try:
        await wait_until(next_matches, seconds=seconds, what=f"{subject} for {system_id}")
    finally:
        await sub.unsubscribe()
    return found[0]


async def test_an_event_id_is_never_reused(
    client: httpx.AsyncClient, actors: Actors, registry_app: FastAPI
) -> None:
    for _ in range(3):
        await create_system(client, actors.a, actors.unit_a)
    envelopes = await all_outbox_events(registry_app)
    ids = [uuid.UUID(e["id"]) for e in envelopes]
    assert len(set(ids)) == len(ids) == 5
