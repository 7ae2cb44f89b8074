"""jincheng: the 7-working-day acceptance report missed, through the gateway only.

A jincheng project is approved, filed and paid; its acceptance passed 30 days ago
(``accepted_on`` back-dated: the clock shifted by a month) and no report was filed
within jincheng:21's 7 working days. Filing's scheduler reports the missed
obligation (``govit.filing.deadline.missed``), evaluation turns it into a SUGGESTED
``acceptance_delayed`` order (never silently an open one), the authority confirms
and escalates it: funding closes both gates and approval suspends the project.
Resolving the order lifts the suspension; the late report (due 7 working days after
the acceptance, the calendar says when, and not on time) opens the gates and the
operations money flows.
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


async def test_jincheng_missed_acceptance_report_suggests_escalation_closes_resolution_reopens(
    running_suite: Suite, gateway: httpx.AsyncClient
) -> None:
    walk = Walk(running_suite, gateway, "jincheng", unit_name="晋城市城市管理局")
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
    authority, unit = walk.as_("authority"), walk.as_("unit")

    accepted_on = walk.today - timedelta(days=30)
    due = ok(
        await gateway.get(
            f"/api/v1/calendar/workdays?start={accepted_on.isoformat()}&days=7", headers=authority
        )
    )["due_on"]
    result = created(
        await gateway.post(
            "/api/v1/acceptances",
            json={
                "project_id": walk.project,
                "accepted_on": accepted_on.isoformat(),
                "passed": True,
                "opinion": "验收合格，请按期报送验收报告",
            },
            headers={**authority, **key()},
        )
    )
    obligation = result["obligation"]
    assert (obligation["type"], obligation["due_on"]) == ("acceptance_report", due), result

    overdue: list[dict[str, Any]] = []

    async def missed() -> bool:
        listed = ok(await gateway.get("/api/v1/filings/overdue", headers=authority))
        overdue[:] = [o for o in listed["items"] if o["project_id"] == walk.project]
        return bool(overdue)

    await wait_until(missed, 30, "filing lists the missed acceptance report")
    assert [(o["type"], o["rule"]) for o in overdue] == [("acceptance_report", "jincheng:21")]

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
    until = (walk.today + timedelta(days=30)).isoformat()
    confirmed = ok(
        await gateway.post(
            f"{base}/confirm", json={"due_on": until}, headers={**authority, **key()}
        )
    )
    assert confirmed["status"] == "open", confirmed
    escalated = ok(
        await gateway.post(
            f"{base}/escalate", json={"grounds": "refused"}, headers={**authority, **key()}
        )
    )
    assert escalated["status"] == "escalated", escalated

    async def status() -> str:
        project = ok(await gateway.get(f"/api/v1/projects/{walk.project}", headers=unit))
        return str(project["status"])

    async def closed_and_suspended() -> bool:
        gates = (await walk.funding())["gates"]
        return (
            not gates["construction"]["open"]
            and not gates["operations"]["open"]
            and await status() == "suspended"
        )

    await wait_until(closed_and_suspended, 30, "gates closed and the project suspended")
    refused = problem(await walk.disburse("construction", "10000.00"), 409)
    assert refused["violations"], refused

    resolved = ok(await gateway.post(f"{base}/resolve", json={}, headers={**authority, **key()}))
    assert resolved["status"] == "resolved", resolved

    async def resumed() -> bool:
        return await status() == "accepted"

    await wait_until(resumed, 30, "the suspension is lifted")

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
        unit,
    )
    assert (late["due_on"], late["on_time"]) == (due, False), late

    async def reopened() -> bool:
        gates = (await walk.funding())["gates"]
        return bool(gates["operations"]["open"]) and await status() == "in_operation"

    await wait_until(reopened, 30, "the gates reopen and the project is in operation")
    created(await walk.disburse("operations", "10000.00"))
