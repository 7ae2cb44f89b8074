"""POST/GET /api/v1/evaluations: kinds, who may, scoring, the completed event, the link
of a self-evaluation to the filing obligation it meets, and bad input (nothing stored)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from fastapi import FastAPI

from services.evaluation import consumers
from tests.evaluation.conftest import (
    SCORES,
    Cast,
    add_project,
    event,
    feed,
    outbox,
)
from tests.support.checks import problem
from tests.support.fixtures import TokenFactory, auth

COMPLETED = "govit.evaluation.evaluation.completed"


def efficacy(cast: Cast, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "project_id": str(cast.project),
        "kind": "efficacy",
        "method": "third_party",
        "scores": SCORES,
    }
    body.update(overrides)
    return body


async def test_an_efficacy_evaluation_is_scored_graded_and_published(
    client: httpx.AsyncClient, evaluation_app: FastAPI, cast: Cast
) -> None:
    response = await client.post("/api/v1/evaluations", json=efficacy(cast), headers=cast.authority)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["total_score"] == 84.1
    assert (body["grade"], body["failing"], body["status"]) == ("good", False, "completed")
    assert body["org"] == str(cast.unit_a)
    [sent] = await outbox(evaluation_app, COMPLETED)
    assert sent["subject"] == body["id"]
    data = sent["data"]
    assert (data["grade"], data["failing"], data["total_score"]) == ("good", False, 84.1)
    assert data["project_id"] == str(cast.project) and data["version"] == 1
    # The unit reads it; the auditor too; another unit does not.
    for headers in (cast.a, cast.auditor):
        got = await client.get(f"/api/v1/evaluations/{body['id']}", headers=headers)
        assert got.status_code == 200 and got.json() == body
    problem(await client.get(f"/api/v1/evaluations/{body['id']}", headers=cast.b), 404, "not_found")
    problem(
        await client.get(f"/api/v1/evaluations/{body['id']}", headers=cast.other_authority),
        404,
        "not_found",
    )


async def test_a_failing_grade_is_marked_failing(
    client: httpx.AsyncClient, evaluation_app: FastAPI, cast: Cast
) -> None:
    low = dict.fromkeys(SCORES, 40)
    response = await client.post(
        "/api/v1/evaluations", json=efficacy(cast, scores=low), headers=cast.authority
    )
    assert response.status_code == 201, response.text
    assert (response.json()["grade"], response.json()["failing"]) == ("poor", True)
    [sent] = await outbox(evaluation_app, COMPLETED)
    assert sent["data"]["failing"] is True


async def test_bad_scores_are_refused_and_nothing_is_stored(
    client: httpx.AsyncClient, evaluation_app: FastAPI, cast: Cast
) -> None:
    over = {**SCORES, "sustainability": 100.5}
    problem(
        await client.post(
            "/api/v1/evaluations", json=efficacy(cast, scores=over), headers=cast.authority
        ),
        422,
        "validation_failed",
    )
    negative = {**SCORES, "sustainability": -1}
    problem(
        await client.post(
            "/api/v1/evaluations", json=efficacy(cast, scores=negative), headers=cast.authority
        ),
        422,
        "validation_failed",
    )
    unknown = {**{k: v for k, v in SCORES.items() if k != "sustainability"}, "beauty": 80}
    refused = problem(
        await client.post(
            "/api/v1/evaluations", json=efficacy(cast, scores=unknown), headers=cast.authority
        ),
        422,
        "scores_refused",
    )
    assert "linfen-water:26" in [v["rule"] for v in refused["violations"]]
    partial = {k: v for k, v in SCORES.items() if k != "efficiency_gain"}
    refused = problem(
        await client.post(
            "/api/v1/evaluations", json=efficacy(cast, scores=partial), headers=cast.authority
        ),
        422,
        "scores_refused",
    )
    assert [v["rule"] for v in refused["violations"]] == ["linfen-water:26"]
    listed = await client.get("/api/v1/evaluations", headers=cast.authority)
    assert listed.json()["items"] == []
    assert await outbox(evaluation_app, COMPLETED) == []


async def test_who_may_evaluate_what(
    client: httpx.AsyncClient, cast: Cast, token: TokenFactory
) -> None:
    # Efficacy and post evaluations are the authority's; a unit's is refused.
    problem(
        await client.post("/api/v1/evaluations", json=efficacy(cast), headers=cast.a),
        403,
        "forbidden",
    )
    for role in ("finance", "auditor", "reviewer", "platform", "admin"):
        headers = auth(token(roles=[role], jurisdiction=cast.jurisdiction))
        problem(
            await client.post("/api/v1/evaluations", json=efficacy(cast), headers=headers),
            403,
            "forbidden",
        )
    # A self-evaluation is the project's own unit's: not another unit's, not the authority's.
    own = {"project_id": str(cast.project), "kind": "self", "method": "document_review"}
    problem(
        await client.post("/api/v1/evaluations", json=own, headers=cast.b), 422, "project_unknown"
    )
    problem(
        await client.post("/api/v1/evaluations", json=own, headers=cast.authority), 403, "forbidden"
    )
    created = await client.post("/api/v1/evaluations", json=own, headers=cast.a)
    assert created.status_code == 201, created.text
    assert created.json()["total_score"] is None and created.json()["failing"] is False
    # Another jurisdiction's authority does not know the project.
    problem(
        await client.post("/api/v1/evaluations", json=efficacy(cast), headers=cast.other_authority),
        422,
        "project_unknown",
    )
    problem(
        await client.post(
            "/api/v1/evaluations",
            json=efficacy(cast, project_id=str(uuid.uuid4())),
            headers=cast.authority,
        ),
        422,
        "project_unknown",
    )


async def test_a_self_evaluation_links_to_the_filing_obligation_it_meets(
    client: httpx.AsyncClient, evaluation_app: FastAPI, cast: Cast
) -> None:
    obligation = uuid.uuid4()
    filing: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "project_id": str(cast.project),
        "org": str(cast.unit_a),
        "jurisdiction": cast.jurisdiction,
        "type": "self_evaluation",
        "event_date": "2026-01-31",
        "filed_on": "2026-02-05",
        "due_on": None,
        "on_time": None,
        "obligation_id": str(obligation),
        "passed": None,
        "trial_run_started_on": None,
        "catalogue_joined": None,
        "secure_controllable": None,
        "version": 1,
    }
    await feed(
        evaluation_app, consumers.apply_filing, event("govit.filing.self_evaluation.filed", filing)
    )
    body = {
        "project_id": str(cast.project),
        "kind": "self",
        "method": "document_review",
        "year": 2025,
        "scores": {"efficiency_gain": 88},
    }
    response = await client.post("/api/v1/evaluations", json=body, headers=cast.a)
    assert response.status_code == 201, response.text
    made = response.json()
    assert made["obligation_id"] == str(obligation) and made["filing_id"] == filing["id"]
    assert (made["total_score"], made["grade"], made["year"]) == (88.0, "good", 2025)
    [sent] = await outbox(evaluation_app, COMPLETED)
    assert sent["data"]["obligation_id"] == str(obligation)
    # The filing is spent: the next self-evaluation finds no unlinked filing.
    again = await client.post("/api/v1/evaluations", json=body, headers=cast.a)
    assert again.json()["obligation_id"] is None
    # Naming another project's filing is refused.
    other = await add_project(evaluation_app, cast.unit_a, cast.jurisdiction)
    wrong = {**body, "project_id": str(other), "filing_id": filing["id"]}
    refused = await client.post("/api/v1/evaluations", json=wrong, headers=cast.a)
    problem(refused, 422, "filing_unknown")
    # It may only be late (filing's event on its way): the answer says when to retry.
    assert refused.headers["Retry-After"] == "5"
    assert "retry" in refused.json()["detail"]


async def test_a_unit_annual_evaluation_names_a_unit_not_a_project(
    client: httpx.AsyncClient, cast: Cast
) -> None:
    body = {"org": str(cast.unit_b), "kind": "unit_annual", "method": "document_review"}
    made = await client.post(
        "/api/v1/evaluations",
        json={**body, "scores": {"sustainability": 55}},
        headers=cast.authority,
    )
    assert made.status_code == 201, made.text
    assert made.json()["project_id"] is None and made.json()["failing"] is True
    problem(
        await client.post(
            "/api/v1/evaluations",
            json={**body, "project_id": str(cast.project)},
            headers=cast.authority,
        ),
        422,
        "evaluation_fields_invalid",
    )
    problem(
        await client.post(
            "/api/v1/evaluations", json={**body, "org": str(uuid.uuid4())}, headers=cast.authority
        ),
        422,
        "unit_unknown",
    )
    problem(
        await client.post(
            "/api/v1/evaluations",
            json={
                "project_id": str(cast.project),
                "org": str(cast.unit_a),
                "kind": "post",
                "method": "third_party",
            },
            headers=cast.authority,
        ),
        422,
        "evaluation_fields_invalid",
    )


async def test_lists_show_each_caller_what_it_may_read(
    client: httpx.AsyncClient, cast: Cast
) -> None:
    for _ in range(3):
        response = await client.post(
            "/api/v1/evaluations", json=efficacy(cast), headers=cast.authority
        )
        assert response.status_code == 201
    page = await client.get("/api/v1/evaluations?limit=2", headers=cast.authority)
    first = page.json()
    assert len(first["items"]) == 2 and first["next_cursor"]
    rest = await client.get(
        f"/api/v1/evaluations?limit=2&cursor={first['next_cursor']}", headers=cast.authority
    )
    assert len(rest.json()["items"]) == 1 and rest.json()["next_cursor"] is None
    assert len((await client.get("/api/v1/evaluations", headers=cast.a)).json()["items"]) == 3
    assert (await client.get("/api/v1/evaluations", headers=cast.b)).json()["items"] == []
    other = await client.get("/api/v1/evaluations", headers=cast.other_authority)
    assert other.json()["items"] == []
    by_kind = await client.get("/api/v1/evaluations?kind=self", headers=cast.authority)
    assert by_kind.json()["items"] == []
    problem(
        await client.get("/api/v1/evaluations?cursor=nonsense", headers=cast.authority),
        422,
    )


async def test_a_token_whose_unit_lies_elsewhere_is_refused(
    client: httpx.AsyncClient, cast: Cast, token: TokenFactory
) -> None:
    lying = auth(token(roles=["unit"], org=cast.unit_a, jurisdiction="jincheng"))
    problem(
        await client.get("/api/v1/evaluations", headers=lying), 403, "token_jurisdiction_mismatch"
    )


async def test_an_idempotency_key_replays_the_first_answer(
    client: httpx.AsyncClient, evaluation_app: FastAPI, cast: Cast
) -> None:
    headers = {**cast.authority, "Idempotency-Key": "eval-1"}
    first = await client.post("/api/v1/evaluations", json=efficacy(cast), headers=headers)
    again = await client.post("/api/v1/evaluations", json=efficacy(cast), headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert len(await outbox(evaluation_app, COMPLETED)) == 1
