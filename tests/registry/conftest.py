"""The registry app on the real PostgreSQL and NATS; each test rolls back its writes."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from services.registry.app import RegistrySettings, build_app
from services.registry.models import events
from tests.support.databases import Databases
from tests.support.fixtures import AUDIENCE, ISSUER, Stack, TokenFactory, auth


def registry_settings(stack: Stack, database_url: str, **overrides: object) -> RegistrySettings:
    return RegistrySettings(
        database_url=database_url,
        nats_url=stack.nats_url,
        environment="test",
        home=stack.root,
        jwks_file=stack.root / "keys" / "jwks.json",
        jwt_issuer=ISSUER,
        jwt_audience=AUDIENCE,
        **overrides,
    )


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
        platform=auth(token(roles=["platform"], sub="gov-cloud-platform", jurisdiction=j)),
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
