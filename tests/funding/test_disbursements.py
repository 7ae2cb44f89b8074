"""Disbursements, allocation plans, returns and the money view over HTTP (API.md "Funding")."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from shared.clock import FixedClock
from tests.funding.conftest import (
    NOW,
    Project,
    allocate,
    cast,
    disbursement,
    everything_filed,
    feed,
    key,
    new_project,
    outbox,
)
from tests.support.checks import problem
from tests.support.fixtures import TokenFactory

DISBURSE = "/api/v1/disbursements"


async def ready(
    app: FastAPI, client: httpx.AsyncClient, token: TokenFactory, p: Project
) -> dict[str, str]:
    """Both gates open and 100,000 allocated to operations for 2026; finance's headers."""
    await feed(app, *everything_filed(p))
    finance = cast(token, p).finance
    await allocate(client, finance, p, "100000.00")
    return finance


async def movements(
    client: httpx.AsyncClient, headers: dict[str, str], p: Project
) -> list[dict[str, Any]]:
    response = await client.get(DISBURSE, params={"project_id": str(p.id)}, headers=headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def test_a_closed_gate_refuses_with_every_violation_and_stores_nothing(
    client: httpx.AsyncClient, funding_app: FastAPI, token: TokenFactory
) -> None:
    p = new_project()
    await feed(funding_app, p.system(catalogued=False, data_shared=False), p.approved())
    finance = cast(token, p).finance
    await allocate(client, finance, p, "100000.00")
    response = await client.post(DISBURSE, json=disbursement(p, "1000.00"), headers=finance | key())
    body = problem(response, 409, "disbursement_refused")
    assert [v["rule"] for v in body["violations"]] == [
        "linfen-water:10",
        "linfen-water:23",
        "linfen-water:11",
    ]
    assert all(v["message_zh"] and v["message_en"] for v in body["violations"])
    assert await movements(client, finance, p) == []


async def test_money_goes_when_the_gate_is_open_and_the_view_counts_it(
    client: httpx.AsyncClient, funding_app: FastAPI, token: TokenFactory
) -> None:
    p = new_project()
    finance = await ready(funding_app, client, token, p)
    response = await client.post(DISBURSE, json=disbursement(p, "2500.50"), headers=finance | key())
    assert response.status_code == 201, response.text
    made = response.json()
    assert made["status"] == "disbursed" and made["amount"] == "2500.50"
    assert made["disbursed_total"] == "2500.50"
    view = (await client.get(f"/api/v1/funding/projects/{p.id}", headers=finance)).json()
    assert (view["approved_total"], view["disbursed"], view["remaining"]) == (
        "1000000.00",
        "2500.50",
        "997499.50",
    )
    line = next(y for y in view["by_year"] if y["year"] == 2026 and y["category"] == "operations")
    assert line == {
        "year": 2026,
        "category": "operations",
        "approved": "600000.00",
        "allocated": "100000.00",
        "in_notice": "0.00",
        "disbursed": "2500.50",
        "remaining": "97499.50",
    }
    [entry] = await movements(client, finance, p)
    assert entry["id"] == made["id"]


async def test_every_limit_is_named_when_exceeded(
    client: httpx.AsyncClient, funding_app: FastAPI, token: TokenFactory
) -> None:
    p = new_project()
    finance = await ready(funding_app, client, token, p)
    over = await client.post(DISBURSE, json=disbursement(p, "600000.01"), headers=finance | key())
    rules = [v["rule"] for v in problem(over, 409, "disbursement_refused")["violations"]]
    assert rules == ["funding:effective-allocation", "funding:annual-budget"]
    unallocated = await client.post(
        DISBURSE, json=disbursement(p, "1.00", "construction"), headers=finance | key()
    )
    [violation] = problem(unallocated, 409, "disbursement_refused")["violations"]
    assert violation["rule"] == "funding:effective-allocation"


async def test_a_retry_with_the_same_key_moves_no_money_twice(
    client: httpx.AsyncClient, funding_app: FastAPI, token: TokenFactory
) -> None:
    p = new_project()
    finance = await ready(funding_app, client, token, p)
    same = finance | key()
    first = await client.post(DISBURSE, json=disbursement(p, "10000.00"), headers=same)
    again = await client.post(DISBURSE, json=disbursement(p, "10000.00"), headers=same)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert len(await movements(client, finance, p)) == 1
    view = (await client.get(f"/api/v1/funding/projects/{p.id}", headers=finance)).json()
    assert view["disbursed"] == "10000.00"
    other = await client.post(DISBURSE, json=disbursement(p, "9.00"), headers=same)
    problem(other, 422, "idempotency_key_reused")


async def test_a_disbursement_without_a_key_is_refused(
    client: httpx.AsyncClient, funding_app: FastAPI, token: TokenFactory
) -> None:
    p = new_project()
    finance = await ready(funding_app, client, token, p)
    problem(
        await client.post(DISBURSE, json=disbursement(p, "1.00"), headers=finance),
        422,
        "idempotency_key_required",
    )
    assert await movements(client, finance, p) == []


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"amount": "-1.00"}, 422, "validation_failed"),
        ({"amount": "0"}, 422, "validation_failed"),
        ({"amount": "1.001"}, 422, "validation_failed"),
        ({"amount": 1.5}, 201, None),  # a JSON number with two places is money too
        ({"category": "salaries"}, 422, "validation_failed"),
        ({"year": 2031}, 422, "year_outside_budget"),
        ({"year": "2026"}, 422, "validation_failed"),
        ({"project_id": "01a00000-0000-7000-8000-000000000000"}, 404, "not_found"),
        ({"extra": 1}, 422, "validation_failed"),
    ],
)
async def test_bad_input_is_a_problem_and_stores_nothing(
    client: httpx.AsyncClient,
    funding_app: FastAPI,
    token: TokenFactory,
    change: dict[str, Any],
    status: int,
    code: str | None,
) -> None:
    p = new_project()
    finance = await ready(funding_app, client, token, p)
    response = await client.post(
        DISBURSE, json=disbursement(p, "1.00") | change, headers=finance | key()
    )
    if code is None:
        assert response.status_code == status, response.text
        return
    problem(response, status, code)
    assert await movements(client, finance, p) == []


async def test_only_finance_of_the_jurisdiction_disburses(
    client: httpx.AsyncClient, funding_app: FastAPI, token: TokenFactory
) -> None:
    p = new_project()
    await ready(funding_app, client, token, p)
    who = cast(token, p)
    for headers in (who.unit, who.auditor, who.admin, who.other_unit):
        response = await client.post(
            DISBURSE, json=disbursement(p, "1.00"), headers=headers | key()
        )
        problem(response, 403, "role_required")
    # Another jurisdiction's finance officer: the project does not exist for it.
    response = await client.post(
        DISBURSE, json=disbursement(p, "1.00"), headers=who.other_finance | key()
    )
    problem(response, 404, "not_found")
    assert await movements(client, who.finance, p) == []


async def test_who_reads_a_projects_money(
    client: httpx.AsyncClient, funding_app: FastAPI, token: TokenFactory
) -> None:
    p = new_project()
    await ready(funding_app, client, token, p)
    who = cast(token, p)
    path = f"/api/v1/funding/projects/{p.id}"
    for headers in (who.unit, who.finance, who.auditor, who.admin):
        assert (await client.get(path, headers=headers)).status_code == 200
    for headers in (who.other_unit, who.other_finance):
        problem(await client.get(path, headers=headers), 404, "not_found")
        problem(await client.get(f"{path}/what-if", headers=headers), 404, "not_found")
    await client.post(DISBURSE, json=disbursement(p, "5.00"), headers=who.finance | key())
    assert len(await movements(client, who.unit, p)) == 1
    assert await movements(client, who.other_unit, p) == []
    assert await movements(client, who.other_finance, p) == []


async def test_public_notice_delays_the_money_where_the_profile_requires_it(
    client: httpx.AsyncClient, funding_app: FastAPI, token: TokenFactory
) -> None:
    p = new_project("xiangfen")  # xiangfen:14: the plan is published before it takes effect
    await feed(funding_app, *everything_filed(p))
    finance = cast(token, p).finance
    plan = await allocate(client, finance, p, "5000.00")
    # Monday 15 June 2026 + 5 working days (the default; the regulation names none),
    # skipping the Dragon Boat Festival on Friday 19 June.
    assert (plan["status"], plan["effective_on"], plan["notice_workdays"]) == (
        "in_notice",
        "2026-06-23",
        5,
    )
    early = await client.post(DISBURSE, json=disbursement(p, "10.00"), headers=finance | key())
    [violation] = problem(early, 409, "disbursement_refused")["violations"]
    assert (
        violation["rule"] == "funding:effective-allocation" and "5000.00" in violation["message_en"]
    )
    funding_app.state.clock = FixedClock(NOW + timedelta(days=8))  # 23 June
    later = await client.post(DISBURSE, json=disbursement(p, "10.00"), headers=finance | key())
    assert later.status_code == 201, later.text


async def test_an_administrator_sets_the_notice_length(
    client: httpx.AsyncClient, funding_app: FastAPI, token: TokenFactory
) -> None:
    p = new_project("jincheng")
    await feed(funding_app, *everything_filed(p))
    who = cast(token, p)
    path = "/api/v1/funding/notice-settings/jincheng"
    before = (await client.get(path, headers=who.finance)).json()
    assert (before["workdays"], before["source"], before["rule"]) == (5, "default", "jincheng:11")
    problem(await client.put(path, json={"workdays": 3}, headers=who.finance), 403, "role_required")
    problem(
        await client.put(
            "/api/v1/funding/notice-settings/leshan", json={"workdays": 3}, headers=who.admin
        ),
        403,
        "profile_not_permitted",
    )
    changed = await client.put(path, json={"workdays": 10}, headers=who.admin)
    assert changed.status_code == 200 and changed.json()["source"] == "administrator"
    plan = await allocate(client, who.finance, p, "5000.00")
    assert (plan["effective_on"], plan["notice_workdays"]) == ("2026-06-30", 10)


async def test_a_plan_refuses_unknown_projects_other_years_and_over_budget(
    client: httpx.AsyncClient, funding_app: FastAPI, token: TokenFactory
) -> None:
    p = new_project()
    await feed(funding_app, *everything_filed(p))
    who = cast(token, p)
    plans = "/api/v1/allocation-plans"
    item = {"project_id": str(p.id), "category": "operations", "amount": "1.00"}
    stranger = {**item, "project_id": str(new_project().id)}
    problem(
        await client.post(
            plans, json={"year": 2026, "items": [stranger]}, headers=who.finance | key()
        ),
        422,
        "project_unknown",
    )
    problem(
        await client.post(plans, json={"year": 2030, "items": [item]}, headers=who.finance | key()),
        422,
        "year_outside_budget",
    )
    over = {**item, "amount": "600000.01"}
    body = problem(
        await client.post(plans, json={"year": 2026, "items": [over]}, headers=who.finance | key()),
        409,
        "allocation_exceeds_budget",
    )
    assert body["violations"][0]["rule"] == "funding:allocation-within-budget"
    problem(
        await client.post(plans, json={"year": 2026, "items": [item]}, headers=who.unit | key()),
        403,
        "role_required",
    )
    problem(
        await client.post(
            plans, json={"year": 2026, "items": [item]}, headers=who.other_finance | key()
        ),
        422,
        "project_unknown",
    )


async def test_a_surplus_return_reduces_what_was_disbursed(
    client: httpx.AsyncClient, funding_app: FastAPI, token: TokenFactory
) -> None:
    p = new_project()
    finance = await ready(funding_app, client, token, p)
    await client.post(DISBURSE, json=disbursement(p, "800.00"), headers=finance | key())
    body = {
        "project_id": str(p.id),
        "category": "operations",
        "amount": "300.00",
        "reason": "项目结余资金退回",
    }
    returned = await client.post("/api/v1/funding/returns", json=body, headers=finance | key())
    assert returned.status_code == 201, returned.text
    assert (returned.json()["amount"], returned.json()["disbursed_total"]) == ("-300.00", "500.00")
    too_much = await client.post(
        "/api/v1/funding/returns", json=body | {"amount": "500.01"}, headers=finance | key()
    )
    assert problem(too_much, 409, "return_refused")["violations"][0]["rule"] == (
        "funding:return-within-disbursed"
    )
    view = (await client.get(f"/api/v1/funding/projects/{p.id}", headers=finance)).json()
    assert view["disbursed"] == "500.00"
    kinds = [m["kind"] for m in await movements(client, finance, p)]
    assert sorted(kinds) == ["disbursement", "return"]
    # Announced like a disbursement, so auditors' and integrators' totals follow it.
    [event] = await outbox(funding_app, "govit.funding.surplus.returned")
    assert event["subject"] == returned.json()["id"]
    assert event["data"]["project_id"] == str(p.id)
    data = event["data"]
    assert (data["amount"], data["disbursed_total"]) == ("-300.00", "500.00")
    assert data["reason"] == "项目结余资金退回"


async def test_what_if_the_acceptance_were_filed(
    client: httpx.AsyncClient, funding_app: FastAPI, token: TokenFactory
) -> None:
    p = new_project("jincheng")
    await feed(funding_app, p.system(), p.approved())
    finance = cast(token, p).finance
    path = f"/api/v1/funding/projects/{p.id}/what-if"
    answer = await client.get(
        path,
        params={"acceptance_filed_on": "2026-06-20", "accepted_on": "2026-06-12"},
        headers=finance,
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["opens"] == ["operations"] and body["still_blocking"] == []
    assert body["deadlines"] == [
        {
            "type": "acceptance_report",
            "rule": "jincheng:21",
            "counted_from": "2026-06-12",
            "opens_on": None,
            "due_on": "2026-06-24",
        }
    ]
    failed = (
        await client.get(
            path, params={"acceptance_filed_on": "2026-06-20", "passed": "false"}, headers=finance
        )
    ).json()
    assert failed["opens"] == ["operations"]  # jincheng gates on the filing, not the result
    # Nothing was stored: the gate is still closed.
    view = (await client.get(f"/api/v1/funding/projects/{p.id}", headers=finance)).json()
    assert [v["rule"] for v in view["gates"]["operations"]["violations"]] == ["jincheng:21"]
    problem(
        await client.get(path, params={"acceptance_filed_on": "1999-01-01"}, headers=finance), 422
    )
