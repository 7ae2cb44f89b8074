"""The funding app on the real PostgreSQL and NATS, and the upstream events it follows.

Route tests use ``client`` (every write rolled back at the end; no relay, no
consumers): their projection is fed by calling the consumers' own handlers with
events built to their producers' schemas (``feed``). Tests that need commits (two
instances, the relay and the real consumers) take a fresh database.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from services.funding import consumers
from services.funding.app import FundingSettings, build_app
from services.funding.models import events as funding_events
from shared.clock import FixedClock
from shared.events.envelope import Event
from shared.events.schemas import SCHEMA_DIR
from shared.ids import new_id
from tests.contract.consumers import matches
from tests.support.apps import app_fixture, rolled_back_client
from tests.support.events import deliver, project_data, system_data, upstream_event
from tests.support.fixtures import Stack, TokenFactory, auth, service_settings

SOURCE = "/govit/funding"
NOW = datetime(2026, 6, 15, 2, 0, tzinfo=UTC)  # a Monday, 10:00 in Beijing


def funding_settings(stack: Stack, url: str, **overrides: Any) -> FundingSettings:
    return service_settings(FundingSettings, stack, url, **overrides)


funding_app = app_fixture("funding", build_app, FundingSettings, consumers_enabled=False)


@pytest.fixture
async def client(funding_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    funding_app.state.clock = FixedClock(NOW)
    async with rolled_back_client(funding_app, SOURCE) as c:
        yield c


# --- upstream events, as their producers' schemas say (docs/event-payloads.md) ------------


def complete(type_: str, data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with any field its producer's schema requires and this builder does not
    set yet taken from the schema's example (producers add fields; they never rename)."""
    schema = json.loads((SCHEMA_DIR / f"{type_}.json").read_text(encoding="utf-8"))
    example = schema["examples"][0]
    return {**{k: example[k] for k in schema["required"] if k not in data}, **data}


def event(type_: str, data: dict[str, Any], at: datetime | None = None) -> Event:
    data = complete(type_, data)
    subject = data.get("id") or data.get("year")
    return upstream_event(type_, data, time=at or NOW, subject=subject)


def what_for(event_type: str) -> str:
    return next(w for w, pattern in consumers.SUBSCRIPTIONS if matches(pattern, event_type))


async def feed(app: FastAPI, *events: Event) -> None:
    """Run each event through the consumer's own handler, in its own transaction."""

    def now() -> tuple[datetime, Any]:
        return app.state.clock.now(), app.state.clock.today()

    for e in events:
        await deliver(app, consumers.handler(what_for(e.type), now), e)


@dataclass
class Project:
    """One approved project of one unit, and the data its events carry."""

    id: uuid.UUID
    org: uuid.UUID
    jurisdiction: str
    system_id: uuid.UUID
    version: int = 1

    def data(self, status: str = "approved", **changes: Any) -> dict[str, Any]:
        data = project_data(
            self.org,
            self.jurisdiction,
            id=str(self.id),
            name="政务数据共享平台",
            status=status,
            total_investment="1000000.00",
            annual_budgets=[{"year": 2026, "amount": "1000000.00"}],
            approved_total="1000000.00",
            approved_annual_budgets=[
                {"year": 2026, "amount": "600000.00"},
                {"year": 2027, "amount": "400000.00"},
            ],
            system_ids=[str(self.system_id)],
            planned_completion_on="2027-06-30",
            version=self.version,
        )
        return data | changes

    def approved(self, **changes: Any) -> Event:
        return event("govit.approval.project.approved", self.data(**changes))

    def status(self, to: str, version: int, at: datetime | None = None) -> Event:
        data = self.data(status=to, version=version) | {
            "from": "approved",
            "to": to,
            "rule": None,
            "cause": None,
        }
        return event("govit.approval.project.status_changed", data, at)

    def system(self, version: int = 1, at: datetime | None = None, **facts: bool) -> Event:
        data = system_data(
            self.system_id, self.org, self.jurisdiction, version=version, facts=facts
        )
        data["name"] = "政务数据共享交换系统"
        type_ = "govit.registry.system.registered"
        if version > 1:
            type_, data = "govit.registry.system.updated", data | {"changed": ["facts"]}
        return event(type_, data, at)

    def filing(
        self,
        type_: str,
        passed: bool | None = None,
        filing_id: uuid.UUID | None = None,
        version: int = 1,
        at: datetime | None = None,
    ) -> Event:
        acceptance = type_ == "acceptance"
        data = {
            "id": str(filing_id or new_id()),
            "project_id": str(self.id),
            "org": str(self.org),
            "jurisdiction": self.jurisdiction,
            "type": type_,
            "event_date": "2026-06-01",
            "filed_on": "2026-06-05",
            "due_on": None,
            "on_time": None,
            "obligation_id": None,
            "passed": passed if acceptance else None,
            "trial_run_started_on": None,
            "catalogue_joined": True if acceptance else None,
            "secure_controllable": True if acceptance else None,
            "version": version,
        }
        return event(f"govit.filing.{type_}.filed", data, at)

    def rectification(self, status: str, order_id: uuid.UUID, version: int) -> Event:
        data = {
            "id": str(order_id),
            "project_id": str(self.id),
            "org": str(self.org),
            "jurisdiction": self.jurisdiction,
            "reason": "acceptance_delayed",
            "status": status,
            "due_on": "2026-09-30",
            "ordered_on": "2026-06-01",
            "rule": f"{self.jurisdiction}:22" if self.jurisdiction == "jincheng" else None,
            "version": version,
        }
        verb = {"open": "ordered", "escalated": "escalated", "resolved": "resolved"}[status]
        return event(f"govit.evaluation.rectification.{verb}", data)


def new_project(jurisdiction: str = "linfen-water") -> Project:
    return Project(new_id(), new_id(), jurisdiction, new_id())


@dataclass
class Cast:
    jurisdiction: str
    finance: dict[str, str]
    unit: dict[str, str]
    other_unit: dict[str, str]
    auditor: dict[str, str]
    admin: dict[str, str]
    other_finance: dict[str, str]


def cast(token: TokenFactory, project: Project) -> Cast:
    j = project.jurisdiction
    elsewhere = "leshan" if j != "leshan" else "jincheng"
    return Cast(
        jurisdiction=j,
        finance=auth(token(roles=["finance"], jurisdiction=j)),
        unit=auth(token(roles=["unit"], org=project.org, jurisdiction=j)),
        other_unit=auth(token(roles=["unit"], org=new_id(), jurisdiction=j)),
        auditor=auth(token(roles=["auditor"], jurisdiction=j)),
        admin=auth(token(roles=["admin"], jurisdiction=j)),
        other_finance=auth(token(roles=["finance"], jurisdiction=elsewhere)),
    )


def key() -> dict[str, str]:
    return {"Idempotency-Key": uuid.uuid4().hex}


async def allocate(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    project: Project,
    amount: str,
    category: str = "operations",
    year: int = 2026,
    **extra: Any,
) -> dict[str, Any]:
    body = {
        "year": year,
        "items": [{"project_id": str(project.id), "category": category, "amount": amount}],
    }
    response = await client.post(
        "/api/v1/allocation-plans", json=body | extra, headers=headers | key()
    )
    assert response.status_code == 201, response.text
    plan: dict[str, Any] = response.json()
    return plan


def disbursement(
    project: Project, amount: str, category: str = "operations", year: int = 2026
) -> dict[str, Any]:
    return {"project_id": str(project.id), "category": category, "amount": amount, "year": year}


def everything_filed(project: Project) -> list[Event]:
    """The events after which both gates of a linfen-water project are open."""
    return [
        project.system(),
        project.approved(),
        project.filing("contract"),
        project.filing("acceptance", passed=True),
    ]


async def outbox(app: FastAPI, type_prefix: str) -> list[dict[str, Any]]:
    async with app.state.db.sessions() as session:
        rows = await session.execute(
            select(funding_events.outbox.c.envelope)
            .where(funding_events.outbox.c.type.startswith(type_prefix))
            .order_by(funding_events.outbox.c.created_at, funding_events.outbox.c.id)
        )
        return [row.envelope for row in rows]
