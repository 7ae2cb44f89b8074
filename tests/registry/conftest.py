"""The registry app on the real PostgreSQL and NATS; each test rolls back its writes.

Every envelope a test writes to the outbox is checked, at the end of that test,
against CloudEvents 1.0 and the event type's JSON Schema (``assert_cloudevent``).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from services.registry.app import RegistrySettings, build_app
from services.registry.models import events
from shared.auth.scopes import REGISTRY_CLOUD_WRITE
from tests.support.apps import app_fixture, rolled_back_client, running_app
from tests.support.checks import problem, wait_until  # noqa: F401 (older imports from here)
from tests.support.databases import Databases
from tests.support.fixtures import Stack, TokenFactory, auth, service_settings

SOURCE = "/govit/registry"  # the CloudEvents source of every registry event


def registry_settings(stack: Stack, database_url: str, **overrides: object) -> RegistrySettings:
    return service_settings(RegistrySettings, stack, database_url, **overrides)


# No relay here: requests share one rolled-back connection, which the relay must not use;
# no import worker either (its imports need commits: tests/registry/test_import_async.py).
registry_app = app_fixture("registry", build_app, RegistrySettings, import_worker_enabled=False)


@pytest.fixture
async def client(registry_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with rolled_back_client(registry_app, SOURCE) as c:
        yield c


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


def resource_body(**overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "name": "实时水位数据",
        "source": "水文站遥测终端",
        "format": "JSON",
        "update_frequency": "每5分钟",
        "share_type": "conditional",
        "open_type": "none",
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


@asynccontextmanager
async def fresh_registry(
    stack: Stack, databases: Databases, **overrides: object
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """A second registry on its own fresh database, where requests really commit.

    For what a rolled-back transaction cannot show: the outbox relay, and requests
    running concurrently on separate connections.
    """
    # The settings' own default runs the relay unless the test says otherwise.
    overrides.setdefault("outbox_relay_enabled", True)
    async with running_app(
        "registry", build_app, RegistrySettings, stack, databases, **overrides
    ) as app:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://registry") as c:
            yield app, c
