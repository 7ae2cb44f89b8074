"""The filing app on the real PostgreSQL and NATS; each test rolls back its writes.

Projects come the way they come in production, as ``govit.approval.project.*``
events, handed to the service's own handler (``consumers.apply_project``).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from services.filing.app import FilingSettings, build_app
from services.filing.consumers import apply_project
from shared.clock import SHANGHAI, FixedClock
from shared.ids import new_id
from tests.support.apps import app_fixture, rolled_back_client
from tests.support.events import deliver, upstream_event
from tests.support.events import project_data as project_data  # approval's event data
from tests.support.fixtures import Stack, TokenFactory, auth, service_settings

SOURCE = "/govit/filing"
TODAY = date(2026, 11, 26)


def filing_settings(stack: Stack, database_url: str, **overrides: Any) -> FilingSettings:
    return service_settings(FilingSettings, stack, database_url, **overrides)


def at(day: date) -> FixedClock:
    return FixedClock(datetime(day.year, day.month, day.day, 10, tzinfo=SHANGHAI))


# No workers: the session's NATS carries other tests' approval events, which a
# consumer here would apply on the test's one rolled-back connection mid-request.
filing_app = app_fixture(
    "filing", build_app, FilingSettings, deadline_scheduler_enabled=False, consumers_enabled=False
)


@pytest.fixture
async def client(filing_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    filing_app.state.clock = at(TODAY)
    # Years loaded by an earlier test were rolled back: forget them in-process too.
    filing_app.state.live_calendar.versions.clear()
    filing_app.state.live_calendar.calendar._loaded.clear()
    async with rolled_back_client(filing_app, SOURCE) as c:
        yield c


async def publish_project(app: FastAPI, data: dict[str, Any], verb: str = "approved") -> None:
    """Deliver a project event to the service's handler, as the consumer would."""
    event = upstream_event(
        f"govit.approval.project.{verb}", data, time=datetime.now(UTC), validate=False
    )
    await deliver(app, apply_project, event)


@dataclass
class Cast:
    jurisdiction: str
    unit: uuid.UUID
    other_unit: uuid.UUID
    a: dict[str, str]
    b: dict[str, str]
    authority: dict[str, str]
    admin: dict[str, str]
    auditor: dict[str, str]
    foreign_authority: dict[str, str]
    foreign_unit: dict[str, str]


def cast(token: TokenFactory, jurisdiction: str) -> Cast:
    unit, other = new_id(), new_id()
    foreign = "leshan" if jurisdiction != "leshan" else "jincheng"
    return Cast(
        jurisdiction=jurisdiction,
        unit=unit,
        other_unit=other,
        a=auth(token(roles=["unit"], org=unit, jurisdiction=jurisdiction)),
        b=auth(token(roles=["unit"], org=other, jurisdiction=jurisdiction)),
        authority=auth(token(roles=["authority"], jurisdiction=jurisdiction)),
        admin=auth(token(roles=["admin"], jurisdiction=jurisdiction)),
        auditor=auth(token(roles=["auditor"], jurisdiction=jurisdiction)),
        foreign_authority=auth(token(roles=["authority"], jurisdiction=foreign)),
        foreign_unit=auth(token(roles=["unit"], org=new_id(), jurisdiction=foreign)),
    )


async def approved_project(app: FastAPI, c: Cast, **overrides: Any) -> str:
    data = project_data(c.unit, c.jurisdiction, **overrides)
    await publish_project(app, data)
    return str(data["id"])


SHA = "a" * 64


def docs(*types: str) -> list[dict[str, str]]:
    return [{"type": t, "title": f"{t} 文件", "sha256": SHA} for t in types or ("contract",)]


LESHAN_MATERIALS = (
    "construction_summary",
    "financial_report",
    "audit_report",
    "sharing_report",
    "test_report",
    "security_assessment",
    "crypto_assessment",
)


def acceptance_body(project_id: str, event_date: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "project_id": project_id,
        "type": "acceptance",
        "event_date": event_date,
        "documents": docs("construction_summary"),
        "passed": True,
        "catalogue_joined": True,
        "secure_controllable": True,
    }
    body.update(overrides)
    return body
