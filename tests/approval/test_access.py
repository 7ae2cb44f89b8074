"""Every role on every route, as an attacker would try them: the lead unit writes, the
co-builders and the jurisdiction's oversight roles read, the authority decides, a
reviewer gives opinions, anyone else gets 403 (a role it lacks) or 404 (a project
not its to read), and nothing is written by a refused call."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.approval.conftest import SHA, World, approval, approved, create, project_body, submitted
from tests.support.checks import problem

READERS = ("unit", "co_unit", "authority", "reviewer", "finance", "auditor", "admin")
STRANGERS = ("stranger_unit", "other_authority")


def headers_of(world: World, who: str) -> dict[str, str]:
    return dict(getattr(world, who))


async def test_reads(client: httpx.AsyncClient, leshan: World) -> None:
    project = await create(client, leshan)
    for who in READERS:
        for path in (
            f"/api/v1/projects/{project['id']}",
            f"/api/v1/projects/{project['id']}/history",
        ):
            response = await client.get(path, headers=headers_of(leshan, who))
            assert response.status_code == 200, (who, path)
    for who in STRANGERS:
        problem(
            await client.get(f"/api/v1/projects/{project['id']}", headers=headers_of(leshan, who)),
            404,
        )
    problem(await client.get(f"/api/v1/projects/{project['id']}"), 401)


@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("co_unit", 403),
        ("authority", 403),
        ("reviewer", 403),
        ("finance", 403),
        ("auditor", 403),
        ("admin", 403),
        ("stranger_unit", 404),
        ("other_authority", 404),
    ],
)
async def test_only_the_lead_unit_writes_its_project(
    client: httpx.AsyncClient, leshan: World, who: str, status: int
) -> None:
    draft = await create(client, leshan)
    live = await approved(client, leshan, name="已批复")
    headers = headers_of(leshan, who)
    calls: list[tuple[str, dict[str, Any] | None]] = [
        (
            f"/api/v1/projects/{draft['id']}/materials",
            {"type": "proposal", "title": "a", "sha256": SHA},
        ),
        (f"/api/v1/projects/{draft['id']}/submit", None),
        (
            f"/api/v1/projects/{live['id']}/changes",
            {
                "new_total": "6000000.00",
                "adjusted_amount": "1.00",
                "goals_changed": False,
                "content": "x",
                "reason": "y",
            },
        ),
    ]
    for path, body in calls:
        problem(await client.post(path, json=body, headers=headers), status)
    if who != "stranger_unit":  # a unit applying for another unit
        problem(
            await client.post("/api/v1/projects", json=project_body(leshan), headers=headers), 403
        )
    detail = (await client.get(f"/api/v1/projects/{draft['id']}", headers=leshan.unit)).json()
    assert detail["status"] == "draft" and detail["materials"] == []
    assert (await client.get(f"/api/v1/projects/{live['id']}", headers=leshan.unit)).json()[
        "changes"
    ] == []


@pytest.mark.parametrize(
    ("who", "opinion", "decide"),
    [
        ("unit", 403, 403),
        ("co_unit", 403, 403),
        ("finance", 403, 403),
        ("auditor", 403, 403),
        ("admin", 403, 403),
        ("platform", 403, 403),
        ("reviewer", 201, 403),
        ("other_authority", 404, 404),
        ("authority", 201, 200),
    ],
)
async def test_opinions_by_reviewers_decisions_by_the_authority(
    client: httpx.AsyncClient, leshan: World, token: Any, who: str, opinion: int, decide: int
) -> None:
    from tests.support.fixtures import auth

    leshan.platform = auth(token(roles=["platform"], jurisdiction="leshan"))  # type: ignore[attr-defined]
    project = await submitted(client, leshan)
    path = f"/api/v1/projects/{project['id']}"
    headers = headers_of(leshan, who)
    response = await client.post(
        f"{path}/opinions",
        json={"topic": "technical", "verdict": "agree", "comment": "同意"},
        headers=headers,
    )
    assert response.status_code == opinion, response.text
    for topic in ("cyberspace", "crypto", "public_security", "finance", "technical"):
        await client.post(
            f"{path}/opinions",
            json={"topic": topic, "verdict": "agree", "comment": "同意"},
            headers=leshan.reviewer,
        )
    reviews = {
        k: 80 for k in ("need", "intensiveness", "feasibility", "budget", "performance_goals")
    }
    response = await client.post(
        f"{path}/reviews", json={**reviews, "comment": "x"}, headers=headers
    )
    assert response.status_code == (201 if decide == 200 else decide), response.text
    response = await client.post(f"{path}/decision", json=approval(), headers=headers)
    assert response.status_code == decide, response.text
    response = await client.post(f"{path}/terminate", json={"reason": "x"}, headers=headers)
    assert response.status_code == decide, response.text
