"""The evaluation app on the real PostgreSQL and NATS; each test rolls back its writes.

Approval's projects, the registry's units and filing's filings reach the service as
events: tests feed them to the service's own consumer handlers (``feed``) in the
test's transaction, built with ``new_event(..., validate=False)`` where the
producer's schema does not exist yet. The clock is fixed (``clock``) so deadlines
and questionnaire windows can be crossed.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from services.evaluation import consumers
from services.evaluation.app import EvaluationSettings, build_app
from services.evaluation.models import events
from shared.clock import FixedClock
from shared.events import Event
from shared.events.schemas import known_types
from tests.support.apps import app_fixture, rolled_back_client
from tests.support.events import deliver, unit_data, upstream_event
from tests.support.events import project_data as approved_project_data
from tests.support.fixtures import Stack, TokenFactory, auth, service_settings

SOURCE = "/govit/evaluation"
NOW = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai, 2026-11-26


def evaluation_settings(stack: Stack, url: str, **overrides: object) -> EvaluationSettings:
    return service_settings(EvaluationSettings, stack, url, **overrides)


# No consumers on the shared rolled-back connection: tests feed events to the
# handlers themselves.
evaluation_app = app_fixture("evaluation", build_app, EvaluationSettings, consumers_enabled=False)


@pytest.fixture
def clock(evaluation_app: FastAPI) -> FixedClock:
    fixed = FixedClock(NOW)
    evaluation_app.state.clock = fixed
    return fixed


@pytest.fixture
async def client(evaluation_app: FastAPI, clock: FixedClock) -> AsyncIterator[httpx.AsyncClient]:
    async with rolled_back_client(evaluation_app, SOURCE) as c:
        yield c


def event(type_: str, data: dict[str, Any], *, at: datetime = NOW) -> Event:
    """An upstream event, checked against its producer's schema once there is one."""
    return upstream_event(type_, data, time=at, validate=type_ in known_types())


feed = deliver  # hand an event to a consumer handler in the test's transaction


def project_data(
    org: uuid.UUID,
    jurisdiction: str = "linfen-water",
    *,
    project_id: uuid.UUID | None = None,
    version: int = 1,
    status: str = "approved",
    co_orgs: tuple[uuid.UUID, ...] = (),
) -> dict[str, Any]:
    return approved_project_data(
        org,
        jurisdiction,
        id=str(project_id or uuid.uuid4()),
        co_orgs=[str(o) for o in co_orgs],
        name="智慧水务平台",
        number=None,
        status=status,
        planned_completion_on="2027-06-30",
        approved_on="2026-03-01",
        version=version,
    )


@dataclass
class Cast:
    """One jurisdiction's cast: two units, a project of unit A, and their tokens."""

    jurisdiction: str
    unit_a: uuid.UUID
    unit_b: uuid.UUID
    project: uuid.UUID
    a: dict[str, str]
    b: dict[str, str]
    authority: dict[str, str]
    finance: dict[str, str]
    auditor: dict[str, str]
    admin: dict[str, str]
    other_authority: dict[str, str]


async def add_unit(app: FastAPI, jurisdiction: str, name: str = "某局") -> uuid.UUID:
    unit = uuid.uuid4()
    data = unit_data(unit, jurisdiction, name)
    await feed(app, consumers.apply_unit, event("govit.registry.unit.registered", data))
    return unit


async def add_project(app: FastAPI, org: uuid.UUID, jurisdiction: str, **kw: Any) -> uuid.UUID:
    data = project_data(org, jurisdiction, **kw)
    await feed(app, consumers.apply_project, event("govit.approval.project.approved", data))
    return uuid.UUID(data["id"])


async def make_cast(app: FastAPI, token: TokenFactory, jurisdiction: str) -> Cast:
    unit_a = await add_unit(app, jurisdiction, "甲局")
    unit_b = await add_unit(app, jurisdiction, "乙局")
    project = await add_project(app, unit_a, jurisdiction)
    other = "jincheng" if jurisdiction != "jincheng" else "leshan"
    return Cast(
        jurisdiction=jurisdiction,
        unit_a=unit_a,
        unit_b=unit_b,
        project=project,
        a=auth(token(roles=["unit"], org=unit_a, jurisdiction=jurisdiction)),
        b=auth(token(roles=["unit"], org=unit_b, jurisdiction=jurisdiction)),
        authority=auth(token(roles=["authority"], jurisdiction=jurisdiction)),
        finance=auth(token(roles=["finance"], jurisdiction=jurisdiction)),
        auditor=auth(token(roles=["auditor"], jurisdiction=jurisdiction)),
        admin=auth(token(roles=["admin"], jurisdiction=jurisdiction)),
        other_authority=auth(token(roles=["authority"], jurisdiction=other)),
    )


@pytest.fixture
async def cast(client: httpx.AsyncClient, evaluation_app: FastAPI, token: TokenFactory) -> Cast:
    return await make_cast(evaluation_app, token, "linfen-water")


SCORES = {
    "support_capacity": 90,
    "user_satisfaction": 85.5,
    "efficiency_gain": 80,
    "sustainability": 70,
    "security_reliability": 95,
}


async def outbox(app: FastAPI, type_: str) -> list[dict[str, Any]]:
    async with app.state.db.sessions() as session:
        rows = await session.execute(
            select(events.outbox.c.envelope)
            .where(events.outbox.c.type == type_)
            .order_by(events.outbox.c.created_at)
        )
        return [row.envelope for row in rows]


def days(n: int) -> timedelta:
    return timedelta(days=n)
