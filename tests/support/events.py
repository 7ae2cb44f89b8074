"""Upstream events for a service under test: built as their producers build them and
handed to the service's own handler the way its consumer would, in one transaction.

    await deliver(app, consumers.apply_project, upstream_event(type_, data, time=NOW))

``project_data`` is the data of a ``govit.approval.project.*`` event (docs/
event-payloads.md) with the defaults one approved project needs; a test overrides
what it is about.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from shared.events import Event
from shared.events.envelope import new_event
from shared.ids import new_id

T = TypeVar("T")

# The profile version in force for each jurisdiction in the tests' years.
PROFILE_VERSIONS = {"jincheng": "2019-1"}
DEFAULT_PROFILE_VERSION = "2022-1"


def source_of(event_type: str) -> str:
    """``govit.registry.unit.registered`` → ``/govit/registry`` (its producer)."""
    return f"/govit/{event_type.split('.')[1]}"


def upstream_event(
    event_type: str,
    data: dict[str, Any],
    *,
    time: datetime,
    subject: object = None,
    validate: bool = True,
) -> Event:
    """An event from its producer; ``subject`` defaults to ``data["id"]``."""
    return new_event(
        event_type,
        source=source_of(event_type),
        data=data,
        time=time,
        subject=str(data["id"] if subject is None else subject),
        validate=validate,
    )


async def deliver(
    app: FastAPI, handler: Callable[[AsyncSession, Event], Awaitable[T]], event: Event
) -> T:
    """Hand ``event`` to a consumer's handler in one transaction, as the consumer would
    (on a rolled-back test client's connection, it rolls back with the test)."""
    async with app.state.db.transaction() as session:
        return await handler(session, event)


def profile_version(jurisdiction: str) -> str:
    return PROFILE_VERSIONS.get(jurisdiction, DEFAULT_PROFILE_VERSION)


def project_data(org: uuid.UUID, jurisdiction: str, **overrides: Any) -> dict[str, Any]:
    """The data of a ``govit.approval.project.*`` event: one approved project of ``org``."""
    data: dict[str, Any] = {
        "id": str(new_id()),
        "org": str(org),
        "co_orgs": [],
        "jurisdiction": jurisdiction,
        "profile": jurisdiction,
        "profile_version": profile_version(jurisdiction),
        "name": "政务数据共享交换平台",
        "number": f"{jurisdiction}-2026-0001",
        "status": "approved",
        "delivery": "self_build",
        "kind": "new",
        "total_investment": "1200000.00",
        "annual_budgets": [{"year": 2026, "amount": "1200000.00"}],
        "approved_total": "1200000.00",
        "approved_annual_budgets": [{"year": 2026, "amount": "1200000.00"}],
        "system_ids": [],
        "planned_completion_on": "2026-12-31",
        "approved_on": "2026-03-02",
        "version": 1,
    }
    data.update(overrides)
    return data


def unit_data(unit_id: uuid.UUID, jurisdiction: str, name: str = "某局") -> dict[str, Any]:
    """The data of ``govit.registry.unit.registered``."""
    return {"id": str(unit_id), "name": name, "jurisdiction": jurisdiction, "parent": None}


def system_data(
    system_id: uuid.UUID,
    org: uuid.UUID,
    jurisdiction: str,
    *,
    version: int = 1,
    status: str = "operating",
    resource_count: int = 2,
    facts: dict[str, bool] | None = None,
) -> dict[str, Any]:
    """The data of ``govit.registry.system.registered`` (``.updated`` adds ``changed``):
    a system with every fact true (``catalogued`` while not retired) but ``facts``, and
    the fields that give each fact as the registry derives it."""
    values = {"catalogued": status != "retired", "data_shared": True, "on_cloud": True}
    values |= {"secure": True, **(facts or {})}
    return {
        "id": str(system_id),
        "org": str(org),
        "jurisdiction": jurisdiction,
        "name": "智慧水务平台",
        "status": status,
        "network": "extranet",
        "cloud": "on_cloud" if values["on_cloud"] else "not_migrated",
        "cloud_exempt_reason": None,
        "private_network_approval": None,
        "sharing_connected": values["data_shared"],
        "mlps_level": 3,
        "crypto_assessed": values["secure"],
        "asset_registered": True,
        "resource_count": resource_count,
        "facts": values,
        "version": version,
    }
