"""Issue 16's door hardening: exact anonymous routes, a budget for failed
authentication, safe answer headers, long URLs, true 405s, metrics off the public
port, and Swagger UI served from the package."""

from __future__ import annotations

import httpx
import pytest

from gateway.routes import RouteTable
from shared.auth import DevKeys
from shared.errors import PROBLEM_JSON
from tests.gateway.conftest import SettingsFactory
from tests.gateway.support import Upstream, mint
from tests.support.fixtures import auth

ANSWERS = "/api/v1/evaluations/e-1/questionnaire-answers"

# --- anonymous routes match the whole "METHOD path" -----------------------------------

LOOKALIKES = [
    f"{ANSWERS}%0A",  # `$` matches before a trailing newline
    f"{ANSWERS}%0D",
    f"{ANSWERS}%0D%0A",
    f"{ANSWERS}%09",
    "/api/v1/evaluations/e-1/questionnaire%0A-answers",
    "/api/v1/evaluations/e%2F1/questionnaire-answers",  # an encoded slash in the id
    "/api/v1/evaluations/e-1/questionnaire-answers%2F",
    "/api/v1/evaluations/e-1/questionnaire-answers/",
    "/api/v1/evaluations//questionnaire-answers",
    "/api/v1/evaluations/e-1//questionnaire-answers",
    "/api/v1/evaluations/e-1/questionnaire-answers/..",
    "/api/v1/evaluations/e-1/questionnaire-answers/%2e%2e/%2e%2e/systems",
    "/api/v1/evaluations/e-1/questionnaire-answers/./",
    "/api/v1/evaluations/e-1/Questionnaire-Answers",
    "/api/v1/evaluations/e-1/QUESTIONNAIRE-ANSWERS",
    "/api/v1/Evaluations/e-1/questionnaire-answers",
    "/API/v1/evaluations/e-1/questionnaire-answers",
]


@pytest.mark.parametrize("path", LOOKALIKES)
async def test_a_lookalike_of_the_anonymous_route_is_never_forwarded_without_a_token(
    gw: httpx.AsyncClient, services: dict[str, Upstream], path: str
) -> None:
    response = await gw.post(path, json={"q1": 5})
    assert response.status_code in (401, 404), response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    assert all(not s.state.seen for s in services.values())


async def test_the_anonymous_route_itself_still_needs_no_token(
    gw: httpx.AsyncClient, services: dict[str, Upstream]
) -> None:
    assert (await gw.post(ANSWERS, json={"q1": 5})).status_code == 200
    assert services["evaluation"].state.paths() == [ANSWERS]


async def test_a_path_with_a_control_character_belongs_to_no_service(
    gw: httpx.AsyncClient, keys: DevKeys, services: dict[str, Upstream]
) -> None:
    for path in ("/api/v1/systems/1%0A", "/api/v1/systems/1%00", "/api/v1/systems/%7F"):
        response = await gw.get(path, headers=auth(mint(keys)))
        assert response.status_code == 404, path
        assert response.json()["code"] == "route_not_found"
    assert not services["registry"].state.seen


def test_route_patterns_must_match_the_whole_request_line(make_settings: SettingsFactory) -> None:
    table = RouteTable(make_settings())
    assert table.is_anonymous("POST", ANSWERS)
    assert not table.is_anonymous("POST", ANSWERS + "\n")
    assert not table.is_anonymous("POST", ANSWERS + "\nx")
    assert table.body_limit("POST", "/api/v1/systems:import\n") == table.body_limit(
        "POST", "/api/v1/systems"
    )
