"""Rectification orders over HTTP: ordering (the authority only), the lifecycle and its
events, refusals with citations (nothing stored), the overdue flag, and a missed
acceptance deadline becoming a *suggested* order the authority confirms or dismisses."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from fastapi import FastAPI

from services.evaluation import consumers
from shared.clock import FixedClock
from tests.evaluation.conftest import (
    Cast,
    add_project,
    add_unit,
    days,
    event,
    feed,
    make_cast,
    outbox,
)
from tests.support.checks import problem
from tests.support.fixtures import TokenFactory, auth

ORDERED = "govit.evaluation.rectification.ordered"
ESCALATED = "govit.evaluation.rectification.escalated"
RESOLVED = "govit.evaluation.rectification.resolved"
TERMINATION = "govit.evaluation.rectification.termination_requested"


def order_body(cast: Cast, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "project_id": str(cast.project),
        "reason": "built_against_approval",
        "due_on": "2026-12-31",
        "evidence": "现场核查发现建设内容与批复不符",
    }
    body.update(overrides)
    return body


async def ordered(client: httpx.AsyncClient, cast: Cast, **overrides: Any) -> dict[str, Any]:
    response = await client.post(
        "/api/v1/rectifications", json=order_body(cast, **overrides), headers=cast.authority
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def test_the_authority_orders_and_the_event_carries_the_full_order(
    client: httpx.AsyncClient, evaluation_app: FastAPI, cast: Cast
) -> None:
    order = await ordered(client, cast)
    assert (order["status"], order["rule"], order["ordered_on"]) == (
        "open",
        "linfen-water:25",
        "2026-11-26",
    )
    assert order["org"] == str(cast.unit_a) and order["overdue"] is False
    [sent] = await outbox(evaluation_app, ORDERED)
    assert sent["data"]["status"] == "open" and sent["data"]["version"] == 1
    # The unit reads its own order and its history; another unit does not.
    got = await client.get(f"/api/v1/rectifications/{order['id']}", headers=cast.a)
    assert got.status_code == 200
    assert [h["changes"]["status"]["after"] for h in got.json()["history"]] == ["open"]
    problem(await client.get(f"/api/v1/rectifications/{order['id']}", headers=cast.b), 404)
    problem(
        await client.get(f"/api/v1/rectifications/{order['id']}", headers=cast.other_authority),
        404,
    )


async def test_no_one_but_the_authority_orders_or_moves_an_order(
    client: httpx.AsyncClient, evaluation_app: FastAPI, cast: Cast, token: TokenFactory
) -> None:
    order = await ordered(client, cast)
    for role in ("unit", "finance", "auditor", "reviewer", "platform", "admin"):
        org = cast.unit_a if role == "unit" else uuid.UUID(int=0)
        headers = auth(token(roles=[role], org=org, jurisdiction=cast.jurisdiction))
        problem(
            await client.post("/api/v1/rectifications", json=order_body(cast), headers=headers),
            403,
            "role_required",
        )
        for step, body in (("resolve", {}), ("escalate", {"grounds": "refused"})):
            problem(
                await client.post(
                    f"/api/v1/rectifications/{order['id']}/{step}", json=body, headers=headers
                ),
                403,
                "role_required",
            )
    assert len(await outbox(evaluation_app, ORDERED)) == 1
    listed = await client.get("/api/v1/rectifications", headers=cast.authority)
    assert [o["id"] for o in listed.json()["items"]] == [order["id"]]
    assert listed.json()["items"][0]["status"] == "open"
    # Another jurisdiction's authority: the order is not there for it.
    problem(
        await client.post(
            f"/api/v1/rectifications/{order['id']}/resolve", json={}, headers=cast.other_authority
        ),
        404,
    )
    problem(
        await client.post(
            "/api/v1/rectifications", json=order_body(cast), headers=cast.other_authority
        ),
        422,
        "project_unknown",
    )


async def test_refused_orders_cite_the_rule_and_store_nothing(
    client: httpx.AsyncClient, evaluation_app: FastAPI, cast: Cast, token: TokenFactory
) -> None:
    # linfen-water names no rectification for data sharing (leshan:33/47 does).
    refused = problem(
        await client.post(
            "/api/v1/rectifications",
            json=order_body(cast, reason="data_not_shared"),
            headers=cast.authority,
        ),
        422,
        "rectification_refused",
    )
    assert [v["rule"] for v in refused["violations"]] == ["linfen-water:25"]
    refused = problem(
        await client.post(
            "/api/v1/rectifications",
            json=order_body(cast, due_on="2026-11-26"),
            headers=cast.authority,
        ),
        422,
        "rectification_refused",
    )
    assert [v["rule"] for v in refused["violations"]] == ["linfen-water:25"]
    problem(
        await client.post(
            "/api/v1/rectifications", json=order_body(cast, reason="lazy"), headers=cast.authority
        ),
        422,
        "validation_failed",
    )
    listed = await client.get("/api/v1/rectifications", headers=cast.authority)
    assert listed.json()["items"] == [] and await outbox(evaluation_app, ORDERED) == []
    # Leshan does order it, citing its own articles.
    leshan = await make_cast(evaluation_app, token, "leshan")
    made = await ordered(client, leshan, reason="data_not_shared")
    assert made["rule"] == "leshan:47"


async def test_the_whole_lifecycle_with_its_events(
    client: httpx.AsyncClient, evaluation_app: FastAPI, cast: Cast, clock: FixedClock
) -> None:
    order = await ordered(client, cast, due_on="2026-12-01")
    url = f"/api/v1/rectifications/{order['id']}"
    # Still failing after the due date: not before it.
    early = problem(
        await client.post(
            f"{url}/escalate", json={"grounds": "still_failing"}, headers=cast.authority
        ),
        409,
        "transition_refused",
    )
    assert [v["rule"] for v in early["violations"]] == ["linfen-water:25"]
    # Termination needs escalation first.
    refused = problem(
        await client.post(f"{url}/request-termination", json={}, headers=cast.authority),
        409,
        "transition_refused",
    )
    assert refused["violations"][0]["rule"] == "linfen-water:25"
    clock.advance(days(7))
    escalated = await client.post(
        f"{url}/escalate",
        json={"grounds": "still_failing", "note": "逾期未整改"},
        headers=cast.authority,
    )
    assert escalated.status_code == 200, escalated.text
    assert escalated.json()["status"] == "escalated" and escalated.json()["overdue"] is True
    [sent] = await outbox(evaluation_app, ESCALATED)
    assert (sent["data"]["status"], sent["data"]["version"]) == ("escalated", 2)
    resolved = await client.post(f"{url}/resolve", json={"note": "已整改"}, headers=cast.authority)
    assert resolved.json()["status"] == "resolved" and resolved.json()["overdue"] is False
    [sent] = await outbox(evaluation_app, RESOLVED)
    assert (sent["data"]["status"], sent["data"]["version"]) == ("resolved", 3)
    # Resolved is final.
    for step, body in (
        ("resolve", {}),
        ("escalate", {"grounds": "refused"}),
        ("request-termination", {}),
        ("confirm", {"due_on": "2027-01-31"}),
        ("dismiss", {}),
    ):
        problem(
            await client.post(f"{url}/{step}", json=body, headers=cast.authority),
            409,
            "transition_refused",
        )
    history = (await client.get(url, headers=cast.authority)).json()["history"]
    assert [h["changes"]["status"]["after"] for h in history] == ["open", "escalated", "resolved"]
    assert history[1]["changes"]["grounds"]["after"] == "still_failing"


async def test_escalated_then_termination_requested(
    client: httpx.AsyncClient, evaluation_app: FastAPI, cast: Cast
) -> None:
    order = await ordered(client, cast, reason="unauthorised_change")
    url = f"/api/v1/rectifications/{order['id']}"
    response = await client.post(
        f"{url}/escalate", json={"grounds": "refused"}, headers=cast.authority
    )
    assert response.json()["status"] == "escalated"
    response = await client.post(f"{url}/request-termination", json={}, headers=cast.authority)
    assert response.json()["status"] == "termination_requested"
    [sent] = await outbox(evaluation_app, TERMINATION)
    assert sent["data"]["status"] == "termination_requested" and sent["data"]["version"] == 3
    problem(
        await client.post(f"{url}/resolve", json={}, headers=cast.authority),
        409,
        "transition_refused",
    )


async def test_an_order_past_due_is_flagged_and_listed_but_not_escalated(
    client: httpx.AsyncClient, evaluation_app: FastAPI, cast: Cast, clock: FixedClock
) -> None:
    late = await ordered(client, cast, due_on="2026-11-30")
    later = await ordered(client, cast, due_on="2027-03-31")
    clock.advance(days(10))
    flagged = await client.get("/api/v1/rectifications?overdue=true", headers=cast.authority)
    assert [o["id"] for o in flagged.json()["items"]] == [late["id"]]
    assert flagged.json()["items"][0]["overdue"] is True
    calm = await client.get("/api/v1/rectifications?overdue=false", headers=cast.authority)
    assert [o["id"] for o in calm.json()["items"]] == [later["id"]]
    got = await client.get(f"/api/v1/rectifications/{late['id']}", headers=cast.a)
    assert got.json()["status"] == "open"  # the platform flags; a person escalates
    assert await outbox(evaluation_app, ESCALATED) == []
    by_status = await client.get("/api/v1/rectifications?status=open", headers=cast.a)
    assert len(by_status.json()["items"]) == 2
    by_project = await client.get(
        f"/api/v1/rectifications?project_id={uuid.uuid4()}", headers=cast.authority
    )
    assert by_project.json()["items"] == []
    assert (await client.get("/api/v1/rectifications", headers=cast.b)).json()["items"] == []


def missed(cast: Cast, obligation_type: str = "acceptance_report", **kw: Any) -> dict[str, Any]:
    data = {
        "id": str(uuid.uuid4()),
        "project_id": str(cast.project),
        "org": str(cast.unit_a),
        "jurisdiction": cast.jurisdiction,
        "type": obligation_type,
        "rule": "linfen-water:23",
        "due_on": "2026-11-20",
        "status": "missed",
        "met_by": None,
        "version": 2,
    }
    data.update(kw)
    return data


async def test_a_missed_acceptance_deadline_suggests_an_order_never_opens_one(
    client: httpx.AsyncClient, evaluation_app: FastAPI, cast: Cast
) -> None:
    data = missed(cast)
    await feed(
        evaluation_app, consumers.suggest_rectification, event("govit.filing.deadline.missed", data)
    )
    # Told again (a replay with a new event id): still one suggestion.
    await feed(
        evaluation_app, consumers.suggest_rectification, event("govit.filing.deadline.missed", data)
    )
    # Other obligations suggest nothing.
    await feed(
        evaluation_app,
        consumers.suggest_rectification,
        event("govit.filing.deadline.missed", missed(cast, "contract_filing")),
    )
    listed = (await client.get("/api/v1/rectifications", headers=cast.authority)).json()["items"]
    assert len(listed) == 1
    [suggestion] = listed
    assert (suggestion["status"], suggestion["reason"]) == ("suggested", "acceptance_delayed")
    assert suggestion["obligation_id"] == data["id"] and suggestion["rule"] == "linfen-water:25"
    assert suggestion["due_on"] is None and suggestion["overdue"] is False
    assert await outbox(evaluation_app, ORDERED) == []  # nothing follows from a suggestion
    url = f"/api/v1/rectifications/{suggestion['id']}"
    # Nothing but confirm or dismiss moves it.
    for step, body in (("resolve", {}), ("escalate", {"grounds": "refused"})):
        problem(
            await client.post(f"{url}/{step}", json=body, headers=cast.authority),
            409,
            "transition_refused",
        )
    problem(
        await client.post(f"{url}/confirm", json={"due_on": "2026-11-01"}, headers=cast.authority),
        422,
        "rectification_refused",
    )
    confirmed = await client.post(
        f"{url}/confirm", json={"due_on": "2027-01-31"}, headers=cast.authority
    )
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["status"] == "open" and confirmed.json()["ordered_on"] == "2026-11-26"
    [sent] = await outbox(evaluation_app, ORDERED)
    assert (sent["data"]["status"], sent["data"]["due_on"]) == ("open", "2027-01-31")


async def test_a_dismissed_suggestion_publishes_nothing(
    client: httpx.AsyncClient, evaluation_app: FastAPI, cast: Cast
) -> None:
    other = await add_project(evaluation_app, cast.unit_a, cast.jurisdiction)
    data = missed(cast, "acceptance_application", project_id=str(other))
    await feed(
        evaluation_app, consumers.suggest_rectification, event("govit.filing.deadline.missed", data)
    )
    [suggestion] = (await client.get("/api/v1/rectifications", headers=cast.authority)).json()[
        "items"
    ]
    url = f"/api/v1/rectifications/{suggestion['id']}"
    problem(await client.post(f"{url}/dismiss", json={}, headers=cast.a), 403, "role_required")
    dismissed = await client.post(
        f"{url}/dismiss", json={"note": "已批准延期验收"}, headers=cast.authority
    )
    assert dismissed.json()["status"] == "dismissed"
    problem(
        await client.post(f"{url}/confirm", json={"due_on": "2027-01-31"}, headers=cast.authority),
        409,
        "transition_refused",
    )
    for type_ in (ORDERED, ESCALATED, RESOLVED, TERMINATION):
        assert await outbox(evaluation_app, type_) == []


async def test_a_project_not_under_an_approval_gets_no_order(
    client: httpx.AsyncClient, evaluation_app: FastAPI, cast: Cast
) -> None:
    for status in ("draft", "rejected", "terminated"):
        project = await add_project(evaluation_app, cast.unit_a, cast.jurisdiction, status=status)
        refused = problem(
            await client.post(
                "/api/v1/rectifications",
                json=order_body(cast, project_id=str(project)),
                headers=cast.authority,
            ),
            409,
            "project_not_rectifiable",
        )
        assert [v["rule"] for v in refused["violations"]] == ["linfen-water:25"]
    assert (await client.get("/api/v1/rectifications", headers=cast.authority)).json()[
        "items"
    ] == []
    # A later event of the same project (approval on) makes it rectifiable.
    project = await add_project(evaluation_app, cast.unit_a, cast.jurisdiction, status="submitted")
    await add_project(
        evaluation_app,
        cast.unit_a,
        cast.jurisdiction,
        project_id=project,
        status="in_construction",
        version=2,
    )
    # An older event arriving late changes nothing.
    await add_project(
        evaluation_app, cast.unit_a, cast.jurisdiction, project_id=project, status="draft"
    )
    made = await client.post(
        "/api/v1/rectifications",
        json=order_body(cast, project_id=str(project)),
        headers=cast.authority,
    )
    assert made.status_code == 201, made.text


async def test_a_co_builder_reads_its_projects_orders_and_evaluations_and_writes_none(
    client: httpx.AsyncClient, evaluation_app: FastAPI, cast: Cast, token: TokenFactory
) -> None:
    joint = await add_project(
        evaluation_app, cast.unit_a, cast.jurisdiction, co_orgs=(cast.unit_b,)
    )
    order = await ordered(client, cast, project_id=str(joint))
    got = await client.get(f"/api/v1/rectifications/{order['id']}", headers=cast.b)
    assert got.status_code == 200 and got.json()["org"] == str(cast.unit_a)
    listed = await client.get("/api/v1/rectifications", headers=cast.b)
    assert [o["id"] for o in listed.json()["items"]] == [order["id"]]
    body = {"project_id": str(joint), "kind": "self", "method": "document_review"}
    # The lead unit self-evaluates; the co-builder reads it and may not write one.
    problem(await client.post("/api/v1/evaluations", json=body, headers=cast.b), 403, "forbidden")
    made = await client.post("/api/v1/evaluations", json=body, headers=cast.a)
    assert made.status_code == 201, made.text
    read = await client.get(f"/api/v1/evaluations/{made.json()['id']}", headers=cast.b)
    assert read.status_code == 200
    # A third unit of the jurisdiction reads neither.
    third = await add_unit(evaluation_app, cast.jurisdiction, "丙局")
    other = auth(token(roles=["unit"], org=third, jurisdiction=cast.jurisdiction))
    problem(await client.get(f"/api/v1/rectifications/{order['id']}", headers=other), 404)
    problem(await client.get(f"/api/v1/evaluations/{made.json()['id']}", headers=other), 404)
