"""Filings through HTTP: bad input refused with nothing stored, access, every type,
acceptance content by profile, acceptance delays, obligations and the overdue list."""

from __future__ import annotations

import uuid
from datetime import date

import httpx
import pytest
from fastapi import FastAPI

from tests.filing.conftest import (
    LESHAN_MATERIALS,
    acceptance_body,
    approved_project,
    at,
    cast,
    docs,
    project_data,
    publish_project,
)
from tests.filing.helpers import outbox
from tests.support.checks import problem
from tests.support.fixtures import TokenFactory


def contract(project: str, **overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "project_id": project,
        "type": "contract",
        "event_date": "2026-09-30",
        "filed_on": "2026-10-09",
        "documents": docs("contract"),
    }
    body.update(overrides)
    return body


async def _nothing_stored(client: httpx.AsyncClient, project: str, who: dict[str, str]) -> None:
    listed = await client.get("/api/v1/filings", params={"project_id": project}, headers=who)
    assert listed.status_code == 200 and listed.json()["items"] == []


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"type": "invoice"}, 422, "validation_failed"),
        ({"event_date": "2026-11-27"}, 422, "event_date_in_future"),
        ({"filed_on": "2026-11-27"}, 422, "filed_on_in_future"),
        ({"filed_on": "2026-09-29"}, 422, "filed_before_event"),
        ({"documents": []}, 422, "validation_failed"),
        ({"documents": [{"type": "contract", "title": "合同"}]}, 422, "validation_failed"),
        ({"documents": [{"type": "c", "title": "合同", "sha256": "x"}]}, 422, "validation_failed"),
        ({"type": "progress"}, 422, "filing_fields_missing"),
        ({"type": "acceptance_delay"}, 422, "filing_fields_missing"),
        ({"type": "acceptance"}, 422, "filing_fields_missing"),
        ({"project_id": str(uuid.uuid4())}, 409, "project_unknown"),
    ],
)
async def test_bad_input_is_a_problem_and_nothing_is_stored(
    client: httpx.AsyncClient,
    filing_app: FastAPI,
    token: TokenFactory,
    change: dict[str, object],
    status: int,
    code: str,
) -> None:
    c = cast(token, "jincheng")
    project = await approved_project(filing_app, c)
    r = await client.post("/api/v1/filings", json=contract(project, **change), headers=c.a)
    problem(r, status, code)
    await _nothing_stored(client, project, c.a)
    assert await outbox(filing_app, "govit.filing.contract.filed") == []


async def test_a_project_of_another_unit_or_jurisdiction_is_refused(
    client: httpx.AsyncClient, filing_app: FastAPI, token: TokenFactory
) -> None:
    c = cast(token, "jincheng")
    project = await approved_project(filing_app, c)
    # Another unit of the jurisdiction, or a unit elsewhere: as if it did not exist.
    for who in (c.b, c.foreign_unit):
        problem(
            await client.post("/api/v1/filings", json=contract(project), headers=who),
            409,
            "project_unknown",
        )
    # Oversight reads, it does not file.
    for who in (c.authority, c.auditor):
        problem(
            await client.post("/api/v1/filings", json=contract(project), headers=who),
            403,
            "role_required",
        )
    await _nothing_stored(client, project, c.a)
    # A co-building unit reads the project but the lead unit files.
    co = cast(token, "jincheng")
    shared = await approved_project(filing_app, c, co_orgs=[str(co.unit)])
    problem(
        await client.post("/api/v1/filings", json=contract(shared), headers=co.a), 403, "forbidden"
    )
    ok = await client.post("/api/v1/filings", json=contract(project), headers=c.admin)
    assert ok.status_code == 201, ok.text  # the jurisdiction's admin files for a unit


async def test_a_project_not_approved_is_refused_and_a_newer_state_wins(
    client: httpx.AsyncClient, filing_app: FastAPI, token: TokenFactory
) -> None:
    c = cast(token, "jincheng")
    data = project_data(c.unit, "jincheng", status="submitted", version=1)
    await publish_project(filing_app, data, "submitted")
    problem(
        await client.post("/api/v1/filings", json=contract(data["id"]), headers=c.a),
        409,
        "project_not_approved",
    )
    await publish_project(filing_app, {**data, "status": "approved", "version": 2})
    await publish_project(filing_app, {**data, "status": "submitted", "version": 1})  # late, old
    r = await client.post("/api/v1/filings", json=contract(data["id"]), headers=c.a)
    assert r.status_code == 201, r.text


async def test_who_reads_filings_and_obligations(
    client: httpx.AsyncClient, filing_app: FastAPI, token: TokenFactory
) -> None:
    c = cast(token, "jincheng")
    project = await approved_project(filing_app, c)
    filed = (await client.post("/api/v1/filings", json=contract(project), headers=c.a)).json()
    for who in (c.a, c.authority, c.auditor, c.admin):
        r = await client.get(f"/api/v1/filings/{filed['id']}", headers=who)
        assert r.status_code == 200, r.text
        obligations = await client.get(
            "/api/v1/obligations", params={"project_id": project}, headers=who
        )
        assert len(obligations.json()["items"]) == 2  # the application, the contract filing
    for who in (c.b, c.foreign_authority, c.foreign_unit):
        problem(await client.get(f"/api/v1/filings/{filed['id']}", headers=who), 404, "not_found")
        listed = await client.get("/api/v1/filings", params={"project_id": project}, headers=who)
        assert listed.json()["items"] == []
        obligations = await client.get(
            "/api/v1/obligations", params={"project_id": project}, headers=who
        )
        assert obligations.json()["items"] == []


async def test_an_approval_opens_the_profile_obligations(
    client: httpx.AsyncClient, filing_app: FastAPI, token: TokenFactory
) -> None:
    budgets = [{"year": 2026, "amount": "600000.00"}, {"year": 2027, "amount": "600000.00"}]
    expected = {
        "linfen-water": {
            ("acceptance_application", "2026-12-31", "filing:planned-completion", "open"),
            ("self_evaluation", None, "linfen-water:24", "open"),
        },
        "leshan": {
            ("acceptance_application", "2026-12-31", "leshan:31", "open"),
            ("performance_monitoring", "2026-12-31", "leshan:45", "open"),
            ("performance_monitoring", "2027-12-31", "leshan:45", "open"),
        },
        "jincheng": {("acceptance_application", "2026-12-31", "filing:planned-completion", "open")},
    }
    for jurisdiction, owed in expected.items():
        c = cast(token, jurisdiction)
        project = await approved_project(filing_app, c, approved_annual_budgets=budgets)
        r = await client.get("/api/v1/obligations", params={"project_id": project}, headers=c.a)
        got = {(o["type"], o["due_on"], o["rule"], o["status"]) for o in r.json()["items"]}
        assert got == owed, jurisdiction
    # Applying the same approval twice opens nothing twice.
    c = cast(token, "xiangfen")
    data = project_data(c.unit, "xiangfen", approved_annual_budgets=budgets)
    await publish_project(filing_app, data)
    await publish_project(filing_app, {**data, "status": "in_construction", "version": 2})
    r = await client.get("/api/v1/obligations", params={"project_id": data["id"]}, headers=c.a)
    assert sorted((o["type"], o["period"]) for o in r.json()["items"]) == [
        ("acceptance_application", ""),
        ("self_evaluation", "2026"),
        ("self_evaluation", "2027"),
    ]


async def test_types_without_a_rule_are_recorded_with_no_deadline(
    client: httpx.AsyncClient, filing_app: FastAPI, token: TokenFactory
) -> None:
    le = cast(token, "leshan")
    project = await approved_project(filing_app, le)
    bodies = [
        contract(project),  # leshan states no contract filing
        {**contract(project), "type": "handover", "documents": docs("source_code")},
        {
            **contract(project),
            "type": "progress",
            "period": "2026-Q3",
            "percent_complete": "45.50",
            "spent_to_date": "300000.00",
            "issues": "进度正常",
        },
    ]
    for body in bodies:
        r = await client.post("/api/v1/filings", json=body, headers=le.a)
        assert r.status_code == 201, r.text
        assert (r.json()["due_on"], r.json()["on_time"], r.json()["obligation_id"]) == (
            None,
            None,
            None,
        ), body["type"]
    progress = r.json()
    assert progress["details"] == {
        "period": "2026-Q3",
        "percent_complete": "45.50",
        "spent_to_date": "300000.00",
        "issues": "进度正常",
    }
    xf = cast(token, "xiangfen")
    supervised = await client.post(
        "/api/v1/filings",
        json={**contract(await approved_project(filing_app, xf)), "type": "supervisor"},
        headers=xf.a,
    )
    # xiangfen:21 owes the supervisor filing but states no deadline.
    assert (supervised.json()["due_on"], supervised.json()["on_time"]) == (None, None)
    assert supervised.json()["obligation_id"] is not None
    types = {e["type"] for e in await outbox(filing_app)}
    assert {
        "govit.filing.handover.filed",
        "govit.filing.progress.filed",
        "govit.filing.supervisor.filed",
        "govit.filing.contract.filed",
    } <= types


async def test_acceptance_content_is_required_by_profile(
    client: httpx.AsyncClient, filing_app: FastAPI, token: TokenFactory
) -> None:
    jc = cast(token, "jincheng")
    project = await approved_project(filing_app, jc)
    r = await client.post(
        "/api/v1/filings",
        json=acceptance_body(project, "2026-11-02", catalogue_joined=False),
        headers=jc.a,
    )
    assert [v["rule"] for v in problem(r, 422, "filing_refused")["violations"]] == ["jincheng:19"]
    # A failed acceptance is recorded as such (approval and funding act on it).
    failed = await client.post(
        "/api/v1/filings",
        json=acceptance_body(project, "2026-11-02", passed=False, catalogue_joined=False),
        headers=jc.a,
    )
    assert failed.status_code == 201, failed.text
    assert (failed.json()["passed"], failed.json()["due_on"]) == (False, None)
    [recorded] = await outbox(filing_app, "govit.filing.acceptance.recorded")
    assert recorded["data"]["passed"] is False

    xz = cast(token, "xinzhou-transport")
    project = await approved_project(filing_app, xz)
    r = await client.post(
        "/api/v1/filings", json=acceptance_body(project, "2026-11-02"), headers=xz.a
    )
    rules = [v["rule"] for v in problem(r, 422, "filing_refused")["violations"]]
    assert rules == ["xinzhou-transport:12"]  # hand the source code over first
    handover = {
        **contract(project),
        "type": "handover",
        "event_date": "2026-10-30",
        "filed_on": "2026-10-30",
        "documents": docs("source_code"),
    }
    assert (await client.post("/api/v1/filings", json=handover, headers=xz.a)).status_code == 201
    r = await client.post(
        "/api/v1/filings",
        json=acceptance_body(project, "2026-11-02", filed_on="2026-11-20"),
        headers=xz.a,
    )
    assert r.status_code == 201, r.text
    # Recorded at once (no result was recorded before): 30 WD from 2026-11-02.
    assert (r.json()["due_on"], r.json()["on_time"]) == ("2026-12-14", True)


async def test_leshan_acceptance_materials_trial_run_and_go_live_evaluation(
    client: httpx.AsyncClient, filing_app: FastAPI, token: TokenFactory
) -> None:
    le = cast(token, "leshan")
    project = await approved_project(filing_app, le)
    body = acceptance_body(
        project,
        "2026-11-02",
        trial_run_started_on="2026-09-01",
        documents=docs("construction_summary", "financial_report"),
    )
    r = await client.post("/api/v1/filings", json=body, headers=le.a)
    violations = problem(r, 422, "filing_refused")["violations"]
    assert [v["rule"] for v in violations] == ["leshan:31"] * 6 + ["leshan:43"]
    assert any("3-month trial run" in v["message_en"] for v in violations)
    handover = {
        **contract(project),
        "type": "handover",
        "event_date": "2026-10-30",
        "filed_on": "2026-10-30",
        "documents": docs("source_code"),
    }
    assert (await client.post("/api/v1/filings", json=handover, headers=le.a)).status_code == 201
    body = {**body, "trial_run_started_on": "2026-08-01", "documents": docs(*LESHAN_MATERIALS)}
    r = await client.post("/api/v1/filings", json=body, headers=le.a)
    assert r.status_code == 201, r.text
    # leshan:31: reported through the platform, with no deadline.
    assert (r.json()["due_on"], r.json()["on_time"]) == (None, None)
    assert r.json()["obligation_id"] is not None
    owed = await client.get("/api/v1/obligations", params={"project_id": project}, headers=le.a)
    by_type = {o["type"]: o for o in owed.json()["items"]}
    assert by_type["acceptance_application"]["status"] == "met"
    # leshan:46: a self-evaluation within 12-24 months of going live (the trial run).
    assert (by_type["self_evaluation"]["due_on"], by_type["self_evaluation"]["rule"]) == (
        "2028-08-01",
        "leshan:46",
    )


async def test_an_agreed_acceptance_delay_moves_the_acceptance_application(
    client: httpx.AsyncClient, filing_app: FastAPI, token: TokenFactory
) -> None:
    le = cast(token, "leshan")
    project = await approved_project(filing_app, le, planned_completion_on="2026-11-20")
    delay = {
        **contract(project),
        "type": "acceptance_delay",
        "event_date": "2026-11-10",
        "filed_on": "2026-11-10",
        "documents": docs("delay_application"),
        "requested_until": "2027-03-31",
        "reason": "第三方测评尚未完成",
    }
    filed = await client.post("/api/v1/filings", json=delay, headers=le.a)
    assert filed.status_code == 201, filed.text
    fid = filed.json()["id"]
    overdue = await client.get("/api/v1/filings/overdue", headers=le.authority)
    assert [o["type"] for o in overdue.json()["items"]] == ["acceptance_application"]
    for who in (le.a, le.auditor, le.admin):
        problem(
            await client.post(
                f"/api/v1/filings/{fid}/review", json={"verdict": "agreed"}, headers=who
            ),
            403,
            "role_required",
        )
    problem(
        await client.post(
            f"/api/v1/filings/{fid}/review",
            json={"verdict": "agreed"},
            headers=le.foreign_authority,
        ),
        404,
        "not_found",
    )
    r = await client.post(
        f"/api/v1/filings/{fid}/review",
        json={"verdict": "agreed", "comment": "同意延期"},
        headers=le.authority,
    )
    assert r.status_code == 200, r.text
    assert r.json()["filing"]["review"]["verdict"] == "agreed"
    moved = r.json()["obligation"]
    assert (moved["type"], moved["due_on"], moved["rule"], moved["status"]) == (
        "acceptance_application",
        "2027-03-31",
        "leshan:31",
        "open",
    )
    [event] = await outbox(filing_app, "govit.filing.obligation.recomputed")
    assert (event["data"]["before"], event["data"]["after"]) == ("2026-11-20", "2027-03-31")
    assert (await client.get("/api/v1/filings/overdue", headers=le.authority)).json()["items"] == []
    problem(
        await client.post(
            f"/api/v1/filings/{fid}/review", json={"verdict": "refused"}, headers=le.authority
        ),
        409,
        "filing_already_reviewed",
    )
    other = await client.post("/api/v1/filings", json=contract(project), headers=le.a)
    problem(
        await client.post(
            f"/api/v1/filings/{other.json()['id']}/review",
            json={"verdict": "agreed"},
            headers=le.authority,
        ),
        409,
        "review_not_applicable",
    )


async def test_overdue_by_unit_and_type_and_late_filings(
    client: httpx.AsyncClient, filing_app: FastAPI, token: TokenFactory
) -> None:
    jc = cast(token, "jincheng")
    late_project = await approved_project(filing_app, jc, planned_completion_on="2026-06-30")
    await approved_project(filing_app, jc)  # due 2026-12-31: not overdue
    r = await client.get(
        "/api/v1/filings/overdue", params={"org": str(jc.unit)}, headers=jc.authority
    )
    assert [(o["project_id"], o["type"]) for o in r.json()["items"]] == [
        (late_project, "acceptance_application")
    ]
    mine = await client.get(
        "/api/v1/filings/overdue", params={"jurisdiction": "jincheng"}, headers=jc.authority
    )
    assert len(mine.json()["items"]) == 1
    elsewhere = await client.get(
        "/api/v1/filings/overdue", params={"jurisdiction": "leshan"}, headers=jc.authority
    )
    assert elsewhere.json()["items"] == []
    none = await client.get(
        "/api/v1/filings/overdue", params={"type": "contract_filing"}, headers=jc.authority
    )
    assert none.json()["items"] == []
    assert (await client.get("/api/v1/filings/overdue", headers=jc.b)).json()["items"] == []
    # The acceptance recorded late meets the application all the same.
    accepted = await client.post(
        "/api/v1/acceptances",
        json={"project_id": late_project, "accepted_on": "2026-11-20", "passed": True},
        headers=jc.authority,
    )
    assert accepted.status_code == 201, accepted.text
    assert (await client.get("/api/v1/filings/overdue", headers=jc.a)).json()["items"] == []
    problem(
        await client.post(
            "/api/v1/acceptances",
            json={"project_id": late_project, "accepted_on": "2026-11-21", "passed": True},
            headers=jc.authority,
        ),
        409,
        "acceptance_already_recorded",
    )


async def test_who_records_acceptances(
    client: httpx.AsyncClient, filing_app: FastAPI, token: TokenFactory
) -> None:
    le = cast(token, "leshan")
    own = await approved_project(filing_app, le)
    bought = await approved_project(filing_app, le, delivery="purchase_service")
    body = {"project_id": own, "accepted_on": "2026-11-20", "passed": True}
    problem(await client.post("/api/v1/acceptances", json=body, headers=le.a), 403, "forbidden")
    problem(
        await client.post("/api/v1/acceptances", json=body, headers=le.foreign_authority),
        409,
        "project_unknown",
    )
    problem(
        await client.post("/api/v1/acceptances", json=body, headers=le.auditor),
        403,
        "role_required",
    )
    problem(
        await client.post(
            "/api/v1/acceptances", json={**body, "accepted_on": "2026-11-27"}, headers=le.authority
        ),
        422,
        "event_date_in_future",
    )
    # leshan:31: the unit organises a purchase-of-services project's acceptance itself.
    r = await client.post("/api/v1/acceptances", json={**body, "project_id": bought}, headers=le.a)
    assert r.status_code == 201, r.text
    assert r.json()["obligation"]["due_on"] is None  # leshan reports with no deadline


async def test_a_filing_post_replays_for_the_same_idempotency_key(
    client: httpx.AsyncClient, filing_app: FastAPI, token: TokenFactory
) -> None:
    c = cast(token, "jincheng")
    project = await approved_project(filing_app, c)
    headers = {**c.a, "Idempotency-Key": "contract-2026-09-30"}
    first = await client.post("/api/v1/filings", json=contract(project), headers=headers)
    again = await client.post("/api/v1/filings", json=contract(project), headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"]
    listed = await client.get("/api/v1/filings", params={"project_id": project}, headers=c.a)
    assert len(listed.json()["items"]) == 1
    other = await client.post(
        "/api/v1/filings", json=contract(project, filed_on="2026-10-12"), headers=headers
    )
    problem(other, 422, "idempotency_key_reused")


async def test_self_evaluation_meets_its_budget_year(
    client: httpx.AsyncClient, filing_app: FastAPI, token: TokenFactory
) -> None:
    filing_app.state.clock = at(date(2027, 3, 1))
    lw = cast(token, "linfen-water")
    budgets = [{"year": 2025, "amount": "1.00"}, {"year": 2026, "amount": "1.00"}]
    project = await approved_project(filing_app, lw, approved_annual_budgets=budgets)
    body = {
        **contract(project),
        "type": "self_evaluation",
        "event_date": "2027-01-15",
        "filed_on": "2027-02-01",
        "period": "2026",
        "documents": docs("self_evaluation"),
    }
    r = await client.post("/api/v1/filings", json=body, headers=lw.a)
    assert r.status_code == 201, r.text
    owed = await client.get(
        "/api/v1/obligations",
        params={"project_id": project, "type": "self_evaluation"},
        headers=lw.a,
    )
    status = {o["period"]: (o["status"], o["met_by"]) for o in owed.json()["items"]}
    assert status == {"2025": ("open", None), "2026": ("met", r.json()["id"])}
    # linfen-water:24 names no date after the budget year: nothing to be late for.
    assert (r.json()["due_on"], r.json()["on_time"]) == (None, None)


async def test_a_changed_planned_completion_moves_the_acceptance_application(
    client: httpx.AsyncClient, filing_app: FastAPI, token: TokenFactory
) -> None:
    jc = cast(token, "jincheng")
    data = project_data(jc.unit, "jincheng", planned_completion_on="2026-06-30")
    await publish_project(filing_app, data)
    assert len((await client.get("/api/v1/filings/overdue", headers=jc.a)).json()["items"]) == 1
    changed = {**data, "planned_completion_on": "2027-06-30", "version": 2}
    await publish_project(filing_app, changed, "changed")
    owed = await client.get("/api/v1/obligations", params={"project_id": data["id"]}, headers=jc.a)
    [application] = owed.json()["items"]
    assert (application["due_on"], application["status"], application["version"]) == (
        "2027-06-30",
        "open",
        2,
    )
    assert (await client.get("/api/v1/filings/overdue", headers=jc.a)).json()["items"] == []
    [event] = await outbox(filing_app, "govit.filing.obligation.recomputed")
    assert (event["data"]["before"], event["data"]["after"]) == ("2026-06-30", "2027-06-30")


async def test_a_token_whose_unit_lies_in_another_jurisdiction_is_refused(
    client: httpx.AsyncClient, filing_app: FastAPI, token: TokenFactory
) -> None:
    jc = cast(token, "jincheng")
    project = await approved_project(filing_app, jc)
    liar = {"Authorization": "Bearer " + token(roles=["unit"], org=jc.unit, jurisdiction="leshan")}
    r = await client.get("/api/v1/obligations", headers=liar)
    assert problem(r, 403, "token_jurisdiction_mismatch")["unit_jurisdiction"] == "jincheng"
    problem(
        await client.post("/api/v1/filings", json=contract(project), headers=liar),
        403,
        "token_jurisdiction_mismatch",
    )
