"""The approval app on the real PostgreSQL; each test rolls back its writes.

The registry's and other services' events reach the app's projections the way a
consumer delivers them (``Consumer.handle_once``: the inbox and the handler in one
transaction), on the test's connection, so they roll back with it. The app runs
without background consumers here; ``test_consumers.py`` runs them on NATS.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from services.approval.app import ApprovalSettings, build_app
from services.approval.consumers import consumers
from shared.clock import FixedClock
from tests.contract.consumers import matches
from tests.support.apps import app_fixture, rolled_back_client
from tests.support.events import deliver, upstream_event
from tests.support.events import system_data as system_data  # the registry's event data
from tests.support.events import unit_data as unit_data
from tests.support.fixtures import Stack, TokenFactory, auth, service_settings

SOURCE = "/govit/approval"
NOW = datetime(2026, 6, 15, 2, 0, tzinfo=UTC)  # 2026-06-15 in Shanghai
SHA = "a" * 64


def approval_settings(stack: Stack, url: str, **overrides: object) -> ApprovalSettings:
    return service_settings(ApprovalSettings, stack, url, **overrides)


approval_app = app_fixture(
    "approval", build_app, ApprovalSettings, clock=FixedClock(NOW), consumers_enabled=False
)


@pytest.fixture
async def client(approval_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    approval_app.state.clock = FixedClock(NOW)
    async with rolled_back_client(approval_app, SOURCE) as c:
        yield c


async def feed(app: FastAPI, event_type: str, data: dict[str, Any], subject: object = None) -> bool:
    """Deliver one event to the consumer that takes its type, as the worker would."""
    event = upstream_event(
        event_type,
        data,
        time=datetime.now(UTC),
        subject=str(subject or data.get("id")),
        validate=False,
    )
    [consumer] = [c for c in consumers(app) if matches(c.subject, event_type)]
    return await deliver(app, consumer.handle_once, event)


@dataclass
class World:
    """One jurisdiction's cast: a lead unit, a co-builder, a stranger, and a system."""

    jurisdiction: str
    lead: uuid.UUID
    co: uuid.UUID
    stranger: uuid.UUID
    system: uuid.UUID
    unit: dict[str, str]
    co_unit: dict[str, str]
    stranger_unit: dict[str, str]
    authority: dict[str, str]
    reviewer: dict[str, str]
    finance: dict[str, str]
    auditor: dict[str, str]
    admin: dict[str, str]
    other_authority: dict[str, str]


async def make_world(app: FastAPI, token: TokenFactory, jurisdiction: str) -> World:
    lead, co, stranger, system = (uuid.uuid4() for _ in range(4))
    for unit in (lead, co, stranger):
        assert await feed(app, "govit.registry.unit.registered", unit_data(unit, jurisdiction))
    assert await feed(
        app, "govit.registry.system.registered", system_data(system, lead, jurisdiction)
    )

    def role(name: str, org: uuid.UUID | None = None, j: str = jurisdiction) -> dict[str, str]:
        if org is None:
            return auth(token(roles=[name], jurisdiction=j))
        return auth(token(roles=[name], org=org, jurisdiction=j))

    return World(
        jurisdiction=jurisdiction,
        lead=lead,
        co=co,
        stranger=stranger,
        system=system,
        unit=role("unit", lead),
        co_unit=role("unit", co),
        stranger_unit=role("unit", stranger),
        authority=role("authority"),
        reviewer=role("reviewer"),
        finance=role("finance"),
        auditor=role("auditor"),
        admin=role("admin"),
        other_authority=role("authority", j="jincheng" if jurisdiction != "jincheng" else "leshan"),
    )


@pytest.fixture
async def leshan(client: httpx.AsyncClient, approval_app: FastAPI, token: TokenFactory) -> World:
    return await make_world(approval_app, token, "leshan")


@pytest.fixture
async def xiangfen(client: httpx.AsyncClient, approval_app: FastAPI, token: TokenFactory) -> World:
    return await make_world(approval_app, token, "xiangfen")


def project_body(world: World, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "乐山市智慧水务平台建设项目",
        "org": str(world.lead),
        "delivery": "self_build",
        "kind": "new",
        "total_investment": "6000000.00",
        "annual_budgets": [
            {"year": 2026, "amount": "4000000.00"},
            {"year": 2027, "amount": "2000000.00"},
        ],
        "system_ids": [str(world.system)],
        "co_orgs": [str(world.co)],
    }
    body.update(overrides)
    return body


MATERIALS = {
    "leshan": ("feasibility_study", "preliminary_design"),
    "xiangfen": ("proposal", "feasibility_study", "preliminary_design", "investment_estimate"),
}
OPINIONS = {
    "leshan": ("cyberspace", "crypto", "public_security", "finance", "technical"),
    "xiangfen": (),
}


async def create(client: httpx.AsyncClient, world: World, **overrides: Any) -> dict[str, Any]:
    response = await client.post(
        "/api/v1/projects", json=project_body(world, **overrides), headers=world.unit
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def add_materials(
    client: httpx.AsyncClient, world: World, project_id: str, types: tuple[str, ...] | None = None
) -> None:
    for kind in MATERIALS[world.jurisdiction] if types is None else types:
        response = await client.post(
            f"/api/v1/projects/{project_id}/materials",
            json={"type": kind, "title": f"{kind}.pdf", "sha256": SHA},
            headers=world.unit,
        )
        assert response.status_code == 201, response.text


async def submitted(client: httpx.AsyncClient, world: World, **overrides: Any) -> dict[str, Any]:
    project = await create(client, world, **overrides)
    await add_materials(client, world, project["id"])
    response = await client.post(f"/api/v1/projects/{project['id']}/submit", headers=world.unit)
    assert response.status_code == 200, response.text
    return project


async def give_opinions(client: httpx.AsyncClient, world: World, project_id: str) -> None:
    for topic in OPINIONS[world.jurisdiction]:
        response = await client.post(
            f"/api/v1/projects/{project_id}/opinions",
            json={"topic": topic, "verdict": "agree", "comment": "同意"},
            headers=world.reviewer,
        )
        assert response.status_code == 201, response.text


def approval(total: str = "6000000.00", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "outcome": "approved",
        "approved_total": total,
        "approved_annual_budgets": [
            {"year": 2026, "amount": "4000000.00"},
            {"year": 2027, "amount": f"{float(total) - 4000000:.2f}"},
        ],
        "planned_completion_on": "2027-12-31",
    }
    body.update(overrides)
    return body


async def approved(client: httpx.AsyncClient, world: World, **overrides: Any) -> dict[str, Any]:
    project = await submitted(client, world, **overrides)
    await give_opinions(client, world, project["id"])
    response = await client.post(
        f"/api/v1/projects/{project['id']}/decision", json=approval(), headers=world.authority
    )
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result
