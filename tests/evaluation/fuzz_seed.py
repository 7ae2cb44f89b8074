"""What the evaluation fuzz starts from: units and projects (fed to the service's own
consumer handlers, as approval's and the registry's events would), and through the
API an evaluation of each kind, a pending questionnaire evaluation with its
questionnaire, an open order, a suggested one, an assessment and a spot check."""

from __future__ import annotations

import uuid

import httpx

from services.evaluation import consumers
from tests.evaluation.conftest import SCORES, event, feed, project_data
from tests.fuzz.seeds import JURISDICTION, Seeded
from tests.support.apps import app_of, created_id
from tests.support.fixtures import TokenFactory, auth


async def seed(client: httpx.AsyncClient, token: TokenFactory) -> Seeded:
    app = app_of(client)
    units = [uuid.uuid4(), uuid.uuid4()]
    for n, unit in enumerate(units):
        data = {"id": str(unit), "name": f"临汾市水利局{n}", "jurisdiction": JURISDICTION}
        await feed(
            app,
            consumers.apply_unit,
            event("govit.registry.unit.registered", {**data, "parent": None}),
        )
    project = project_data(units[0], JURISDICTION)
    await feed(app, consumers.apply_project, event("govit.approval.project.approved", project))
    owner = auth(token(roles=["unit"], org=units[0], jurisdiction=JURISDICTION))
    authority = auth(token(roles=["authority"], jurisdiction=JURISDICTION))
    pid = project["id"]

    evaluations = [
        created_id(
            await client.post(
                "/api/v1/evaluations",
                json={
                    "project_id": pid,
                    "kind": "efficacy",
                    "method": "third_party",
                    "scores": SCORES,
                },
                headers=authority,
            )
        ),
        created_id(
            await client.post(
                "/api/v1/evaluations",
                json={"project_id": pid, "kind": "self", "method": "document_review", "year": 2025},
                headers=owner,
            )
        ),
    ]
    partial = {k: v for k, v in SCORES.items() if k != "user_satisfaction"}
    pending = created_id(
        await client.post(
            "/api/v1/evaluations",
            json={
                "project_id": pid,
                "kind": "efficacy",
                "method": "questionnaire",
                "scores": partial,
            },
            headers=authority,
        )
    )
    window = {"opens_on": "2026-01-01", "closes_on": "2030-12-31", "respondents": 2}
    response = await client.post(
        f"/api/v1/evaluations/{pending}/questionnaire", json=window, headers=authority
    )
    assert response.status_code == 201, response.text
    evaluations.append(pending)

    order = created_id(
        await client.post(
            "/api/v1/rectifications",
            json={"project_id": pid, "reason": "built_against_approval", "due_on": "2030-12-31"},
            headers=authority,
        )
    )
    missed = {
        "id": str(uuid.uuid4()),
        "project_id": pid,
        "org": str(units[0]),
        "jurisdiction": JURISDICTION,
        "type": "acceptance_report",
        "rule": "linfen-water:23",
        "due_on": "2026-11-20",
        "status": "missed",
        "met_by": None,
        "version": 2,
    }
    await feed(app, consumers.suggest_rectification, event("govit.filing.deadline.missed", missed))
    listed = await client.get("/api/v1/rectifications?status=suggested", headers=authority)
    orders = [order, *(o["id"] for o in listed.json()["items"])]
    assessment = created_id(
        await client.post(
            "/api/v1/assessments",
            json={"org": str(units[0]), "year": 2025, "score": 88},
            headers=authority,
        )
    )
    finance = auth(token(roles=["finance"], jurisdiction=JURISDICTION))
    spot_check = created_id(
        await client.post(
            "/api/v1/evaluations:spot-check", json={"year": 2025, "size": 1}, headers=finance
        )
    )
    ids = [str(u) for u in units]
    return Seeded(
        unit_org=ids[0],
        known={
            "evaluation_id": evaluations,
            "rectification_id": orders,
            "assessment_id": [assessment],
            "spot_check_id": [spot_check],
            "project_id": [pid],
            "org": ids,
        },
    )
