"""The issue's calendar cases, through HTTP on the real database (issue 19).

- a contract signed on 2026-09-30 (National Day follows; 2026-10-10 is an adjusted
  working Saturday inside the window);
- an acceptance passed just before the 2026 Spring Festival, under jincheng (7 WD)
  and xiangfen (30 WD);
- an acceptance recorded on 2026-12-18 under xiangfen (30 WD), pending until 2027
  is loaded, then set and reported in ``recomputed``.
"""

from __future__ import annotations

from datetime import date

import httpx
from fastapi import FastAPI

from tests.filing.conftest import acceptance_body, approved_project, at, cast, docs
from tests.filing.helpers import outbox
from tests.support.checks import problem
from tests.support.fixtures import TokenFactory, auth


async def test_contract_signed_before_national_day_is_due_five_working_days_later(
    client: httpx.AsyncClient, filing_app: FastAPI, token: TokenFactory
) -> None:
    c = cast(token, "jincheng")
    project = await approved_project(filing_app, c)
    # 10-01..10-07 National Day; 10-08 (1), 10-09 (2), Saturday 10-10 adjusted (3),
    # 10-12 (4), 10-13 (5).
    body = {
        "project_id": project,
        "type": "contract",
        "event_date": "2026-09-30",
        "filed_on": "2026-10-13",
        "documents": docs("contract"),
    }
    r = await client.post("/api/v1/filings", json=body, headers=c.a)
    assert r.status_code == 201, r.text
    filing = r.json()
    assert (filing["due_on"], filing["on_time"]) == ("2026-10-13", True)
    late = await client.post(
        "/api/v1/filings", json={**body, "filed_on": "2026-10-14"}, headers=c.a
    )
    assert late.status_code == 201, late.text
    assert (late.json()["due_on"], late.json()["on_time"]) == ("2026-10-13", False)
    obligations = await client.get(
        "/api/v1/obligations",
        params={"project_id": project, "type": "contract_filing"},
        headers=c.a,
    )
    items = obligations.json()["items"]
    assert {(o["status"], o["rule"], o["due_on"]) for o in items} == {
        ("met", "jincheng:15", "2026-10-13")
    }
    assert {o["met_by"] for o in items} == {filing["id"], late.json()["id"]}
    [event] = [
        e
        for e in await outbox(filing_app, "govit.filing.contract.filed")
        if e["data"]["id"] == filing["id"]
    ]
    assert event["data"]["obligation_id"] == filing["obligation_id"]
    assert event["subject"] == filing["id"]


async def test_the_adjusted_working_saturday_counts(
    client: httpx.AsyncClient, token: TokenFactory
) -> None:
    who = auth(token(roles=["auditor"], jurisdiction="xiangfen"))
    # 2026-02-14 is a Saturday worked before the Spring Festival: Thursday + 2 WD.
    r = await client.get(
        "/api/v1/calendar/workdays", params={"start": "2026-02-12", "days": 2}, headers=who
    )
    assert r.status_code == 200, r.text
    assert r.json()["due_on"] == "2026-02-14"
    # The Sunday after it is not: Friday + 1 WD is that Saturday, + 2 is after the holiday.
    r = await client.get(
        "/api/v1/calendar/workdays", params={"start": "2026-02-13", "days": 2}, headers=who
    )
    assert r.json()["due_on"] == "2026-02-24"


async def _accept(client: httpx.AsyncClient, c: object, project: str, on: str) -> dict[str, object]:
    r = await client.post(
        "/api/v1/acceptances",
        json={"project_id": project, "accepted_on": on, "passed": True, "opinion": "同意验收"},
        headers=c.authority,  # type: ignore[attr-defined]
    )
    assert r.status_code == 201, r.text
    body: dict[str, object] = r.json()
    return body


async def test_acceptance_before_spring_festival_jincheng_seven_xiangfen_thirty(
    client: httpx.AsyncClient, filing_app: FastAPI, token: TokenFactory
) -> None:
    jc, xf = cast(token, "jincheng"), cast(token, "xiangfen")
    # Friday 2026-02-13: Saturday 02-14 is worked (1), 02-15..02-23 is the festival.
    jincheng = await _accept(client, jc, await approved_project(filing_app, jc), "2026-02-13")
    xiangfen = await _accept(client, xf, await approved_project(filing_app, xf), "2026-02-13")
    assert jincheng["obligation"]["due_on"] == "2026-03-02"  # type: ignore[index]
    assert jincheng["obligation"]["type"] == "acceptance_report"  # type: ignore[index]
    assert xiangfen["obligation"]["due_on"] == "2026-04-02"  # type: ignore[index]
    [recorded] = [
        e
        for e in await outbox(filing_app, "govit.filing.acceptance.recorded")
        if e["data"]["id"] == jincheng["id"]
    ]
    assert recorded["data"]["passed"] is True
    # The unit's report filed on the 7th working day is on time, and meets it.
    r = await client.post(
        "/api/v1/filings",
        json=acceptance_body(str(jincheng["project_id"]), "2026-02-13", filed_on="2026-03-02"),
        headers=jc.a,
    )
    assert r.status_code == 201, r.text
    assert (r.json()["due_on"], r.json()["on_time"]) == ("2026-03-02", True)
    assert r.json()["obligation_id"] == jincheng["obligation"]["id"]  # type: ignore[index]


YEAR_2027 = {
    "source": "测试用 2027 年节假日安排（非官方）",
    "holidays": [
        "2027-01-01",
        "2027-01-02",
        "2027-01-03",
        "2027-01-04",
        "2027-02-05",
        "2027-02-06",
        "2027-02-07",
        "2027-02-08",
        "2027-02-09",
        "2027-02-10",
        "2027-02-11",
        "2027-10-01",
        "2027-10-02",
        "2027-10-03",
    ],
    "workdays": ["2027-01-09"],
}


async def test_december_acceptance_waits_for_2027_then_is_set_and_reported(
    client: httpx.AsyncClient, filing_app: FastAPI, token: TokenFactory
) -> None:
    filing_app.state.clock = at(date(2026, 12, 20))
    xf = cast(token, "xiangfen")
    project = await approved_project(filing_app, xf)
    accepted = await _accept(client, xf, project, "2026-12-18")
    obligation = accepted["obligation"]
    assert obligation == {  # 30 WD from 2026-12-18 reach into 2027, which nobody knows yet
        "id": obligation["id"],
        "type": "acceptance_report",  # type: ignore[index]
        "due_on": None,
        "status": "pending_calendar",
    }
    listed = await client.get(
        "/api/v1/obligations", params={"status": "pending_calendar"}, headers=xf.authority
    )
    assert [o["id"] for o in listed.json()["items"]] == [obligation["id"]]  # type: ignore[index]
    unknown = await client.get(
        "/api/v1/calendar/workdays", params={"start": "2026-12-18", "days": 30}, headers=xf.auditor
    )
    assert problem(unknown, 422, "calendar_year_unknown")["year"] == 2027
    assert problem(await client.get("/api/v1/calendar/2027", headers=xf.auditor), 404, "not_found")

    admin = auth(token(roles=["admin"], jurisdiction="jincheng"))
    loaded = await client.put("/api/v1/calendar/2027", json=YEAR_2027, headers=admin)
    assert loaded.status_code == 200, loaded.text
    # Dec 21-25 (5), 28-31 (9); 2027: Jan 1-4 off, 5-8 (13), Saturday 9 worked (14),
    # 11-15 (19), 18-22 (24), 25-29 (29), Feb 1 (30).
    assert loaded.json()["recomputed"] == [
        {
            "obligation_id": obligation["id"],
            "project_id": project,  # type: ignore[index]
            "type": "acceptance_report",
            "before": None,
            "after": "2027-02-01",
            "status": "open",
        }
    ]
    [event] = await outbox(filing_app, "govit.filing.obligation.recomputed")
    assert (event["data"]["before"], event["data"]["after"]) == (None, "2027-02-01")
    assert event["data"]["status"] == "open" and event["data"]["version"] == 2
    [year] = await outbox(filing_app, "govit.filing.calendar.loaded")
    assert year["data"]["year"] == 2027 and "2027-01-09" in year["data"]["workdays"]
    shown = await client.get("/api/v1/calendar/2027", headers=xf.auditor)
    assert shown.json()["source"] == "loaded" and shown.json()["workdays"] == ["2027-01-09"]
    now = await client.get(
        "/api/v1/obligations",
        params={"project_id": project, "type": "acceptance_report"},
        headers=xf.a,
    )
    assert [(o["due_on"], o["status"]) for o in now.json()["items"]] == [("2027-02-01", "open")]
    # Loading the same year again moves nothing: nothing recomputed.
    again = await client.put("/api/v1/calendar/2027", json=YEAR_2027, headers=admin)
    assert again.json()["recomputed"] == [] and again.json()["version"] == 2


async def test_a_report_filed_while_its_deadline_waits_for_the_calendar_is_on_time(
    client: httpx.AsyncClient, filing_app: FastAPI, token: TokenFactory
) -> None:
    filing_app.state.clock = at(date(2026, 12, 28))
    xf = cast(token, "xiangfen")
    project = await approved_project(filing_app, xf)
    await _accept(client, xf, project, "2026-12-18")
    r = await client.post(
        "/api/v1/filings", json=acceptance_body(project, "2026-12-18"), headers=xf.a
    )
    assert r.status_code == 201, r.text
    # Due somewhere in 2027 or later: filed in 2026, it is on time whatever 2027 says.
    assert (r.json()["due_on"], r.json()["on_time"]) == (None, True)


async def test_a_library_year_is_not_replaced_and_only_an_admin_loads(
    client: httpx.AsyncClient, token: TokenFactory
) -> None:
    admin = auth(token(roles=["admin"], jurisdiction="leshan"))
    body = {**YEAR_2027, "holidays": ["2026-01-01"], "workdays": []}
    problem(
        await client.put("/api/v1/calendar/2026", json=body, headers=admin),
        409,
        "calendar_year_official",
    )
    for role in ("unit", "authority", "finance", "auditor"):
        who = auth(token(roles=[role], jurisdiction="leshan"))
        problem(
            await client.put("/api/v1/calendar/2027", json=YEAR_2027, headers=who),
            403,
            "role_required",
        )
    bad = {**YEAR_2027, "workdays": ["2027-01-05"]}  # a Tuesday is no adjusted weekend
    problem(
        await client.put("/api/v1/calendar/2027", json=bad, headers=admin),
        422,
        "calendar_schedule_invalid",
    )
    shown = await client.get("/api/v1/calendar/2026", headers=admin)
    assert shown.json()["source"] == "library"
    assert "2026-02-14" in shown.json()["workdays"] and "2026-10-01" in shown.json()["holidays"]


async def test_a_count_from_the_end_of_time_is_refused_not_a_crash(
    client: httpx.AsyncClient, token: TokenFactory
) -> None:
    who = auth(token(roles=["auditor"], jurisdiction="xiangfen"))
    for start in ("9999-12-31", "0001-01-01"):
        r = await client.get(
            "/api/v1/calendar/workdays", params={"start": start, "days": 5}, headers=who
        )
        problem(r, 422, "calendar_year_unknown")
