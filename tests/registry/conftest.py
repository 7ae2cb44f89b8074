"""The registry app on the real PostgreSQL and NATS; each test rolls back its writes.

Every envelope a test writes to the outbox is checked, at the end of that test,
against CloudEvents 1.0 and the event type's JSON Schema (``assert_cloudevent``).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from jsonschema import Draft202012Validator
from sqlalchemy import select

from services.registry.app import RegistrySettings, build_app
from services.registry.models import events
from shared.auth.scopes import REGISTRY_CLOUD_WRITE
from shared.events.schemas import SCHEMA_DIR
from tests.support.databases import Databases
from tests.support.fixtures import Stack, TokenFactory, auth, service_settings

PROBLEM_JSON = "application/problem+json"


def registry_settings(stack: Stack, database_url: str, **overrides: object) -> RegistrySettings:
    return service_settings(RegistrySettings, stack, database_url, **overrides)


@pytest.fixture(scope="session")
async def registry_app(
    stack: Stack, databases: Databases, dev_keys: object
) -> AsyncIterator[FastAPI]:
    # No relay here: requests share one rolled-back connection, which the relay must not use.
    url = await databases.migrated("registry")
    app = build_app(registry_settings(stack, url, outbox_relay_enabled=False))
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def client(registry_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    db = registry_app.state.db
    async with db.engine.connect() as conn:
        outer = await conn.begin()
        db.bind_to(conn)
        try:
            transport = httpx.ASGITransport(app=registry_app)
            async with httpx.AsyncClient(transport=transport, base_url="http://registry") as c:
                yield c
            # Whatever the test did, every event it wrote must honour the contract.
            rows = await conn.execute(select(events.outbox.c.envelope))
            for row in rows:
                assert_cloudevent(row.envelope)
        finally:
            db.bind_to(None)
            await outer.rollback()


@dataclass
class Actors:
    """Tokens for one jurisdiction's cast, with two units in it."""

    jurisdiction: str
    unit_a: uuid.UUID
    unit_b: uuid.UUID
    a: dict[str, str]
    b: dict[str, str]
    admin: dict[str, str]
    authority: dict[str, str]
    auditor: dict[str, str]
    platform: dict[str, str]
    other_authority: dict[str, str]


async def make_unit(
    client: httpx.AsyncClient, admin: dict[str, str], name: str, jurisdiction: str
) -> uuid.UUID:
    response = await client.post(
        "/api/v1/units", json={"name": name, "jurisdiction": jurisdiction}, headers=admin
    )
    assert response.status_code == 201, response.text
    return uuid.UUID(response.json()["id"])


@pytest.fixture
async def actors(client: httpx.AsyncClient, token: TokenFactory) -> Actors:
    j = "linfen-water"
    admin = auth(token(roles=["admin"], jurisdiction=j))
    unit_a = await make_unit(client, admin, "临汾市水利局信息中心", j)
    unit_b = await make_unit(client, admin, "临汾市水文水资源勘测站", j)
    return Actors(
        jurisdiction=j,
        unit_a=unit_a,
        unit_b=unit_b,
        a=auth(token(roles=["unit"], org=unit_a, jurisdiction=j)),
        b=auth(token(roles=["unit"], org=unit_b, jurisdiction=j)),
        admin=admin,
        authority=auth(token(roles=["authority"], jurisdiction=j)),
        auditor=auth(token(roles=["auditor"], jurisdiction=j)),
        platform=auth(
            token(
                roles=["platform"],
                sub="gov-cloud-platform",
                jurisdiction=j,
                scopes=(REGISTRY_CLOUD_WRITE,),  # what the government cloud is issued
            )
        ),
        other_authority=auth(token(roles=["authority"], jurisdiction="jincheng")),
    )


def system_body(org: uuid.UUID, **overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "name": "水资源监测预警系统",
        "org": str(org),
        "status": "operating",
        "network": "extranet",
        "cloud": "on_cloud",
        "sharing_connected": True,
        "mlps_level": 2,
        "crypto_assessed": True,
        "asset_registered": True,
    }
    body.update(overrides)
    return body


async def outbox_events(registry_app: FastAPI, type_: str) -> list[dict[str, object]]:
    """The envelopes written to the outbox in this test's transaction."""
    async with registry_app.state.db.sessions() as session:
        rows = await session.execute(
            select(events.outbox.c.envelope)
            .where(events.outbox.c.type == type_)
            .order_by(events.outbox.c.created_at)
        )
        return [row.envelope for row in rows]


async def all_outbox_events(registry_app: FastAPI) -> list[dict[str, Any]]:
    """Every envelope in the outbox (this test's transaction), oldest first."""
    async with registry_app.state.db.sessions() as session:
        rows = await session.execute(
            select(events.outbox.c.envelope).order_by(
                events.outbox.c.created_at, events.outbox.c.id
            )
        )
        return [row.envelope for row in rows]


@cache
def _schema_validator(event_type: str) -> Draft202012Validator:
    path = SCHEMA_DIR / f"{event_type}.json"
    assert path.is_file(), f"no JSON Schema for event type {event_type}"
    schema = json.loads(path.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def assert_cloudevent(envelope: dict[str, Any]) -> None:
    """A CloudEvents 1.0 structured-JSON envelope whose data matches the type's schema."""
    assert envelope["specversion"] == "1.0", envelope
    for attribute in ("id", "source", "type", "subject", "time"):
        assert isinstance(envelope.get(attribute), str) and envelope[attribute], attribute
    uuid.UUID(envelope["id"])
    assert envelope["source"] == "/govit/registry"
    assert envelope["type"].startswith("govit.registry.")
    assert envelope.get("datacontenttype") == "application/json"
    at = datetime.fromisoformat(envelope["time"].replace("Z", "+00:00"))
    assert at.utcoffset() is not None, "time must carry its offset (RFC 3339)"
    data = envelope["data"]
    errors = [e.message for e in _schema_validator(envelope["type"]).iter_errors(data)]
    assert not errors, f"{envelope['type']}: {errors}"
    assert envelope["subject"] == data["id"], "the subject is the entity's id"


def problem(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    """Assert an RFC 9457 problem+json answer with ``status`` (and ``code``); return it."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON), response.headers
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["title"] and body["type"].startswith("https://")
    if code is not None:
        assert body["code"] == code, body
    return body


async def unit_in(
    client: httpx.AsyncClient, token: TokenFactory, jurisdiction: str, name: str = "某某局"
) -> tuple[uuid.UUID, dict[str, str]]:
    """A new unit in ``jurisdiction`` and a unit-role token for it."""
    admin = auth(token(roles=["admin"], jurisdiction=jurisdiction))
    unit = await make_unit(client, admin, name, jurisdiction)
    return unit, auth(token(roles=["unit"], org=unit, jurisdiction=jurisdiction))


async def create_system(
    client: httpx.AsyncClient, headers: dict[str, str], org: uuid.UUID, **overrides: object
) -> dict[str, Any]:
    response = await client.post(
        "/api/v1/systems", json=system_body(org, **overrides), headers=headers
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def wait_until(
    check: Callable[[], Awaitable[bool]], seconds: float = 20, what: str = "condition"
) -> None:
    """Poll ``check`` until it holds; fail after ``seconds`` (never a bare sleep)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while loop.time() < deadline:
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{what} not met within {seconds} s")


@asynccontextmanager
async def fresh_registry(
    stack: Stack, databases: Databases, **overrides: object
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """A second registry on its own fresh database, where requests really commit.

    For what a rolled-back transaction cannot show: the outbox relay, and requests
    running concurrently on separate connections.
    """
    url = await databases.migrated("registry")
    app = build_app(registry_settings(stack, url, **overrides))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://registry") as c:
            yield app, c
