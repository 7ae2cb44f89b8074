"""jincheng: a missed deadline through the whole chain, through the gateway only.

A jincheng project whose construction period ended 60 days ago is approved, filed
and paid; its acceptance is never applied for. Filing's scheduler reports the
missed obligation (``govit.filing.deadline.missed``), evaluation turns it into a
SUGGESTED ``acceptance_delayed`` order (never silently an open one), the authority
confirms and escalates it: funding closes both gates and approval suspends the
project. Resolving the order reopens the gates and the project goes on.

The acceptance report's own 7-working-day deadline (jincheng:21) cannot be missed
this way yet: its obligation opens with an acceptance result, and the gateway does
not route ``/api/v1/acceptances`` (tests/contract/waiting.GATEWAY_UNROUTED); the
acceptance application's deadline (the planned completion date) drives the same
chain. The 7 working days are checked at the end instead: a report filed 30 days
after the acceptance is due 7 working days after it (the calendar's answer) and late.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from tests.e2e.lifecycle import Walk, created, key, ok, problem
from tests.e2e.suite import Suite
from tests.support.checks import wait_until


@pytest.fixture
async def gateway(running_suite: Suite) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=running_suite.url, timeout=30) as client:
        yield client


async def test_jincheng_missed_deadline_suggests_escalation_closes_resolution_reopens(
    running_suite: Suite, gateway: httpx.AsyncClient
) -> None:
    walk = Walk(running_suite, gateway, "jincheng", unit_name="晋城市城市管理局")
    walk.planned_completion_on = walk.today - timedelta(days=60)
    for step in (
        walk.register_unit,
        walk.catalogue,
        walk.create_project,
        walk.submit,
        walk.opinions_and_reviews,
        walk.approve,
        walk.allocate,
        walk.file_contract,
        walk.file_supervisor,
        walk.disburse_construction,
    ):
        await step()
    authority = walk.as_("authority")

    overdue: list[dict[str, Any]] = []

    async def missed() -> bool:
        listed = ok(await gateway.get("/api/v1/filings/overdue", headers=authority))
        overdue[:] = [o for o in listed["items"] if o["project_id"] == walk.project]
        return bool(overdue)

    await wait_until(missed, 30, "filing lists the missed acceptance application")
    assert overdue[0]["type"] == "acceptance_application", overdue
    assert overdue[0]["rule"], overdue  # no jincheng article: filing:planned-completion

    orders: list[dict[str, Any]] = []

    async def suggested() -> bool:
        listed = ok(
            await gateway.get(
                f"/api/v1/rectifications?project_id={walk.project}", headers=authority
            )
        )
        orders[:] = listed["items"]
        return bool(orders)

    await wait_until(suggested, 30, "evaluation suggests a rectification order")
    [order] = orders
    assert (order["status"], order["reason"]) == ("suggested", "acceptance_delayed"), order
    assert order["rule"].startswith("jincheng:"), order

    base = f"/api/v1/rectifications/{order['id']}"
    due = (walk.today + timedelta(days=30)).isoformat()
    confirmed = ok(
        await gateway.post(f"{base}/confirm", json={"due_on": due}, headers={**authority, **key()})
    )
    assert confirmed["status"] == "open", confirmed
    escalated = ok(
        await gateway.post(
            f"{base}/escalate", json={"grounds": "refused"}, headers={**authority, **key()}
        )
    )
    assert escalated["status"] == "escalated", escalated

    async def closed_and_suspended() -> bool:
        gates = (await walk.funding())["gates"]
        project = ok(
            await gateway.get(f"/api/v1/projects/{walk.project}", headers=walk.as_("unit"))
        )
        return (
            not gates["construction"]["open"]
            and not gates["operations"]["open"]
            and project["status"] == "suspended"
        )

    await wait_until(closed_and_suspended, 30, "gates closed and the project suspended")
    refused = problem(await walk.disburse("construction", "10000.00"), 409)
    assert refused["violations"], refused

    resolved = ok(await gateway.post(f"{base}/resolve", json={}, headers={**authority, **key()}))
    assert resolved["status"] == "resolved", resolved

    async def reopened() -> bool:
        gates = (await walk.funding())["gates"]
        project = ok(
            await gateway.get(f"/api/v1/projects/{walk.project}", headers=walk.as_("unit"))
        )
        return bool(gates["construction"]["open"]) and project["status"] == "in_construction"

    await wait_until(reopened, 30, "the gate reopens and the project goes on")
    created(await walk.disburse("construction", "10000.00"))

    # Accepted 30 days ago, reported today: jincheng:21's 7 working days are long past.
    accepted_on = walk.today - timedelta(days=30)
    due = ok(
        await gateway.get(
            f"/api/v1/calendar/workdays?start={accepted_on.isoformat()}&days=7", headers=authority
        )
    )["due_on"]
    late = await walk.created_once_known(
        "/api/v1/filings",
        {
            "project_id": walk.project,
            "type": "acceptance",
            "event_date": accepted_on.isoformat(),
            "documents": [
                {"type": "construction_summary", "title": "竣工总结.pdf", "sha256": "e" * 64}
            ],
            "passed": True,
            "trial_run_started_on": None,
            "catalogue_joined": True,
            "secure_controllable": True,
        },
        walk.as_("unit"),
    )
    assert (late["due_on"], late["on_time"]) == (due, False), late
