"""Finance spot checks of self-evaluations (xiangfen:27) and unit annual assessments
(xiangfen:30), over HTTP."""

from __future__ import annotations

import uuid

import httpx
from fastapi import FastAPI

from tests.evaluation.conftest import Cast, add_project, add_unit, outbox
from tests.support.checks import problem
from tests.support.fixtures import TokenFactory, auth

PUBLISHED = "govit.evaluation.assessment.published"


async def self_evaluations(
    client: httpx.AsyncClient, app: FastAPI, token: TokenFactory, cast: Cast, units: int, each: int
) -> dict[str, str]:
    """``units`` units with ``each`` self-evaluations of 2025; evaluation id → org."""
    made: dict[str, str] = {}
    for n in range(units):
        org = await add_unit(app, cast.jurisdiction, f"单位{n}")
        headers = auth(token(roles=["unit"], org=org, jurisdiction=cast.jurisdiction))
        project = await add_project(app, org, cast.jurisdiction)
        for _ in range(each):
            body = {
                "project_id": str(project),
                "kind": "self",
                "method": "document_review",
                "year": 2025,
            }
            response = await client.post("/api/v1/evaluations", json=body, headers=headers)
            assert response.status_code == 201, response.text
            made[response.json()["id"]] = str(org)
    return made


async def test_the_same_seed_gives_the_same_stratified_sample(
    client: httpx.AsyncClient, evaluation_app: FastAPI, cast: Cast, token: TokenFactory
) -> None:
    made = await self_evaluations(client, evaluation_app, token, cast, units=4, each=3)
    response = await client.post(
        "/api/v1/evaluations:spot-check", json={"year": 2025, "size": 4}, headers=cast.finance
    )
    assert response.status_code == 201, response.text
    first = response.json()
    assert first["population"] == 12 and len(first["sample"]) == 4 and first["seed"]
    assert set(first["sample"]) <= set(made)
    assert len({made[e] for e in first["sample"]}) == 4  # every unit drawn once
    again = await client.post(
        "/api/v1/evaluations:spot-check",
        json={"year": 2025, "size": 4, "seed": first["seed"]},
        headers=cast.finance,
    )
    assert again.json()["sample"] == first["sample"] and again.json()["id"] != first["id"]
    samples = set()
    for n in range(8):
        drawn = await client.post(
            "/api/v1/evaluations:spot-check",
            json={"year": 2025, "size": 2, "seed": f"s{n}"},
            headers=cast.finance,
        )
        samples.add(tuple(drawn.json()["sample"]))
    assert len(samples) > 1
    # Another year or jurisdiction: nothing to draw.
    empty = await client.post(
        "/api/v1/evaluations:spot-check", json={"year": 2024, "size": 4}, headers=cast.finance
    )
    assert empty.json()["sample"] == [] and empty.json()["population"] == 0
    other = auth(token(roles=["finance"], jurisdiction="jincheng"))
    elsewhere = await client.post(
        "/api/v1/evaluations:spot-check", json={"year": 2025, "size": 4}, headers=other
    )
    assert elsewhere.json()["sample"] == []


async def test_a_drawn_check_reads_back_as_answered_by_its_jurisdictions_oversight(
    client: httpx.AsyncClient, evaluation_app: FastAPI, cast: Cast, token: TokenFactory
) -> None:
    """The seed and the sample, read later (the same seed draws the same sample: the
    test above); another jurisdiction, a unit or an unknown id gets the same 404."""
    await self_evaluations(client, evaluation_app, token, cast, units=2, each=2)
    drawn = await client.post(
        "/api/v1/evaluations:spot-check", json={"year": 2025, "size": 2}, headers=cast.finance
    )
    assert drawn.status_code == 201, drawn.text
    path = f"/api/v1/evaluations:spot-check/{drawn.json()['id']}"
    for headers in (cast.finance, cast.auditor, cast.authority, cast.admin):
        read = await client.get(path, headers=headers)
        assert read.status_code == 200, read.text
        assert read.json() == drawn.json()
    elsewhere = auth(token(roles=["auditor"], jurisdiction="jincheng"))
    for headers in (cast.a, cast.other_authority, elsewhere):
        problem(await client.get(path, headers=headers), 404, "not_found")
    unknown = f"/api/v1/evaluations:spot-check/{uuid.uuid4()}"
    problem(await client.get(unknown, headers=cast.auditor), 404, "not_found")


async def test_only_finance_draws_and_bad_input_is_refused(
    client: httpx.AsyncClient, cast: Cast
) -> None:
    for headers in (cast.a, cast.authority, cast.auditor, cast.admin):
        problem(
            await client.post(
                "/api/v1/evaluations:spot-check", json={"year": 2025, "size": 4}, headers=headers
            ),
            403,
            "role_required",
        )
    for body in ({"year": 2025, "size": 0}, {"year": 2025}, {"year": 2025, "size": 2, "seed": ""}):
        problem(
            await client.post("/api/v1/evaluations:spot-check", json=body, headers=cast.finance),
            422,
            "validation_failed",
        )


async def test_an_assessment_is_published_once_per_unit_and_year(
    client: httpx.AsyncClient, evaluation_app: FastAPI, cast: Cast
) -> None:
    body = {"org": str(cast.unit_a), "year": 2025, "score": 88.5, "comment": "按期完成自评价"}
    response = await client.post("/api/v1/assessments", json=body, headers=cast.authority)
    assert response.status_code == 201, response.text
    made = response.json()
    assert (made["grade"], made["score"], made["jurisdiction"]) == ("good", 88.5, "linfen-water")
    [sent] = await outbox(evaluation_app, PUBLISHED)
    assert sent["data"] == made
    problem(
        await client.post("/api/v1/assessments", json=body, headers=cast.authority),
        409,
        "assessment_exists",
    )
    wrong = {**body, "year": 2024, "grade": "excellent"}
    refused = problem(
        await client.post("/api/v1/assessments", json=wrong, headers=cast.authority),
        422,
        "grade_inconsistent",
    )
    assert refused["expected_grade"] == "good"
    problem(
        await client.post(
            "/api/v1/assessments", json={**body, "org": str(uuid.uuid4())}, headers=cast.authority
        ),
        422,
        "unit_unknown",
    )
    problem(
        await client.post(
            "/api/v1/assessments", json={**body, "score": 101}, headers=cast.authority
        ),
        422,
        "validation_failed",
    )
    for headers in (cast.a, cast.finance, cast.admin):
        problem(
            await client.post("/api/v1/assessments", json=body, headers=headers),
            403,
            "role_required",
        )
    assert len(await outbox(evaluation_app, PUBLISHED)) == 1
    # Reads: the unit its own, oversight the jurisdiction's, nobody else's.
    mine = await client.get("/api/v1/assessments?year=2025", headers=cast.a)
    assert [a["id"] for a in mine.json()["items"]] == [made["id"]]
    assert (await client.get("/api/v1/assessments", headers=cast.b)).json()["items"] == []
    listed = await client.get(f"/api/v1/assessments?org={cast.unit_a}", headers=cast.auditor)
    assert [a["id"] for a in listed.json()["items"]] == [made["id"]]
    other = await client.get("/api/v1/assessments", headers=cast.other_authority)
    assert other.json()["items"] == []
    got = await client.get(f"/api/v1/assessments/{made['id']}", headers=cast.a)
    assert got.json() == made
    problem(await client.get(f"/api/v1/assessments/{made['id']}", headers=cast.b), 404)
