"""Public questionnaires: the authority opens one and hands out signed single-use
respondent tokens; anonymous answers count once per token, inside the window; the
aggregate scores ``user_satisfaction`` and completes the evaluation."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from shared.clock import FixedClock
from tests.evaluation.conftest import (
    NOW,
    SCORES,
    Cast,
    days,
    evaluation_settings,
    make_cast,
    outbox,
)
from tests.support.checks import problem
from tests.support.databases import Databases
from tests.support.fixtures import Stack, TokenFactory

PARTIAL = {k: v for k, v in SCORES.items() if k != "user_satisfaction"}


async def pending(client: httpx.AsyncClient, cast: Cast) -> dict[str, Any]:
    body = {
        "project_id": str(cast.project),
        "kind": "efficacy",
        "method": "questionnaire",
        "scores": PARTIAL,
    }
    response = await client.post("/api/v1/evaluations", json=body, headers=cast.authority)
    assert response.status_code == 201, response.text
    made: dict[str, Any] = response.json()
    assert made["status"] == "pending" and made["grade"] is None
    return made


async def opened(
    client: httpx.AsyncClient, cast: Cast, evaluation_id: str, respondents: int = 3
) -> dict[str, Any]:
    body = {"opens_on": "2026-11-26", "closes_on": "2026-12-05", "respondents": respondents}
    response = await client.post(
        f"/api/v1/evaluations/{evaluation_id}/questionnaire", json=body, headers=cast.authority
    )
    assert response.status_code == 201, response.text
    made: dict[str, Any] = response.json()
    return made


def answer(token: str, satisfaction: int = 4) -> dict[str, Any]:
    return {"respondent_token": token, "satisfaction": satisfaction}


async def test_answers_count_once_per_token_and_feed_user_satisfaction(
    client: httpx.AsyncClient, evaluation_app: FastAPI, cast: Cast, clock: FixedClock
) -> None:
    evaluation = await pending(client, cast)
    assert await outbox(evaluation_app, "govit.evaluation.evaluation.completed") == []
    questionnaire = await opened(client, cast, evaluation["id"], 4)
    tokens = questionnaire["respondent_tokens"]
    assert len(set(tokens)) == 4
    assert (questionnaire["opens_on"], questionnaire["closes_on"]) == ("2026-11-26", "2026-12-05")
    url = f"/api/v1/evaluations/{evaluation['id']}/questionnaire-answers"
    for token, satisfaction in zip(tokens[:3], (5, 4, 3), strict=True):
        response = await client.post(url, json=answer(token, satisfaction))  # no bearer token
        assert response.status_code == 201, response.text
    # The same token again is refused; so is one it never handed out.
    problem(await client.post(url, json=answer(tokens[0])), 409, "respondent_token_used")
    summary = await client.get(
        f"/api/v1/evaluations/{evaluation['id']}/questionnaire", headers=cast.authority
    )
    assert (summary.json()["answers"], summary.json()["user_satisfaction"]) == (3, 75.0)
    # Completion waits for the close.
    problem(
        await client.post(
            f"/api/v1/evaluations/{evaluation['id']}/complete", json={}, headers=cast.authority
        ),
        409,
        "questionnaire_still_open",
    )
    clock.advance(days(10))
    # An unspent token after the close: refused, not stored.
    problem(await client.post(url, json=answer(tokens[3])), 409, "questionnaire_not_open")
    late = await client.get(
        f"/api/v1/evaluations/{evaluation['id']}/questionnaire", headers=cast.authority
    )
    assert late.json()["answers"] == 3  # the late answer was not stored
    problem(
        await client.post(
            f"/api/v1/evaluations/{evaluation['id']}/complete", json={}, headers=cast.a
        ),
        403,
        "role_required",
    )
    done = await client.post(
        f"/api/v1/evaluations/{evaluation['id']}/complete", json={}, headers=cast.authority
    )
    assert done.status_code == 200, done.text
    assert done.json()["scores"]["user_satisfaction"] == 75.0
    assert done.json()["status"] == "completed" and done.json()["total_score"] == 82.0
    [sent] = await outbox(evaluation_app, "govit.evaluation.evaluation.completed")
    assert sent["data"]["scores"]["user_satisfaction"] == 75.0 and sent["data"]["version"] == 2
    problem(
        await client.post(
            f"/api/v1/evaluations/{evaluation['id']}/complete", json={}, headers=cast.authority
        ),
        409,
        "evaluation_not_pending",
    )


async def test_forged_and_foreign_tokens_are_refused(
    client: httpx.AsyncClient, evaluation_app: FastAPI, cast: Cast
) -> None:
    first = await pending(client, cast)
    second = await pending(client, cast)
    mine = (await opened(client, cast, first["id"], 1))["respondent_tokens"][0]
    theirs = (await opened(client, cast, second["id"], 1))["respondent_tokens"][0]
    url = f"/api/v1/evaluations/{first['id']}/questionnaire-answers"
    head, mac = mine.split(".")
    raw = bytearray(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    raw[-1] ^= 1  # another nonce under the same signature
    forged = base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode() + "." + mac
    for bad in (theirs, forged, "x", "a.b", mine + "x", f"{head}.{'A' * 22}"):
        problem(await client.post(url, json=answer(bad)), 403, "respondent_token_invalid")
    summary = await client.get(f"/api/v1/evaluations/{first['id']}/questionnaire", headers=cast.a)
    assert summary.json()["answers"] == 0
    problem(await client.post(url, json=answer(mine, 6)), 422, "validation_failed")
    problem(await client.post(url, json={**answer(mine), "extra": 1}), 422, "validation_failed")


async def test_before_it_opens_and_bad_windows(client: httpx.AsyncClient, cast: Cast) -> None:
    evaluation = await pending(client, cast)
    later = {"opens_on": "2026-12-01", "closes_on": "2026-12-05", "respondents": 1}
    made = await client.post(
        f"/api/v1/evaluations/{evaluation['id']}/questionnaire", json=later, headers=cast.authority
    )
    token = made.json()["respondent_tokens"][0]
    url = f"/api/v1/evaluations/{evaluation['id']}/questionnaire-answers"
    problem(await client.post(url, json=answer(token)), 409, "questionnaire_not_open")
    # One questionnaire per evaluation; only a pending questionnaire evaluation has one.
    problem(
        await client.post(
            f"/api/v1/evaluations/{evaluation['id']}/questionnaire",
            json=later,
            headers=cast.authority,
        ),
        409,
        "questionnaire_not_applicable",
    )
    other = await pending(client, cast)
    backwards = {"opens_on": "2026-12-05", "closes_on": "2026-12-01", "respondents": 1}
    problem(
        await client.post(
            f"/api/v1/evaluations/{other['id']}/questionnaire",
            json=backwards,
            headers=cast.authority,
        ),
        422,
        "window_invalid",
    )
    problem(
        await client.post(
            f"/api/v1/evaluations/{other['id']}/questionnaire", json=later, headers=cast.a
        ),
        403,
        "role_required",
    )
    problem(
        await client.post(
            "/api/v1/evaluations/00000000-0000-0000-0000-000000000000/questionnaire-answers",
            json=answer(token),
        ),
        404,
    )


# --- on a database where requests really commit ------------------------------------------


@pytest.fixture
async def committed(stack: Stack, databases: Databases, dev_keys: object) -> AsyncIterator[FastAPI]:
    from services.evaluation.app import build_app

    url = await databases.migrated("evaluation")
    settings = evaluation_settings(stack, url, outbox_relay_enabled=False, consumers_enabled=False)
    app = build_app(settings)
    app.state.clock = FixedClock(NOW)
    async with app.router.lifespan_context(app):
        yield app


async def test_concurrent_answers_with_one_token_count_once(
    committed: FastAPI, token: TokenFactory
) -> None:
    cast = await make_cast(committed, token, "xiangfen")
    transport = httpx.ASGITransport(app=committed)
    async with httpx.AsyncClient(transport=transport, base_url="http://evaluation") as client:
        evaluation = await pending(client, cast)
        tokens = (await opened(client, cast, evaluation["id"], 2))["respondent_tokens"]
        url = f"/api/v1/evaluations/{evaluation['id']}/questionnaire-answers"
        answers = [client.post(url, json=answer(tokens[0], 5)) for _ in range(12)]
        answers += [client.post(url, json=answer(tokens[1], 1)) for _ in range(12)]
        responses = await asyncio.gather(*answers)
        statuses = sorted(r.status_code for r in responses)
        assert statuses == [201, 201] + [409] * 22, statuses
        summary = await client.get(
            f"/api/v1/evaluations/{evaluation['id']}/questionnaire", headers=cast.authority
        )
        assert (summary.json()["answers"], summary.json()["user_satisfaction"]) == (2, 50.0)
