"""Issue 16's door hardening: exact anonymous routes, a budget for failed
authentication, safe answer headers, long URLs, true 405s, metrics off the public
port, and Swagger UI served from the package."""

from __future__ import annotations

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from gateway.routes import RouteTable
from shared.auth import DevKeys, Principal, TokenVerifier
from shared.errors import PROBLEM_JSON
from tests.gateway.conftest import SettingsFactory
from tests.gateway.support import Upstream, mint, running_gateway
from tests.gateway.test_ratelimit import assert_rate_limited
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


# --- failed authentication has a budget per address -----------------------------------


def stranger_signed() -> str:
    return jwt.encode(
        {"sub": "x", "exp": 4102444800},
        ec.generate_private_key(ec.SECP256R1()),
        algorithm="ES256",
        headers={"kid": "whoever"},
    )


async def test_300_bad_tokens_from_one_address_cost_at_most_the_budget_of_verifications(
    make_settings: SettingsFactory,
    keys: DevKeys,
    services: dict[str, Upstream],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The issue's case with the default budget (30/minute): the 31st bad token and
    everything after it are 429 with Retry-After, decided before any verification."""
    verifications = 0
    verify = TokenVerifier.verify

    async def counting(self: TokenVerifier, token: str) -> Principal:
        nonlocal verifications
        verifications += 1
        return await verify(self, token)

    monkeypatch.setattr(TokenVerifier, "verify", counting)
    bad = {"Authorization": f"Bearer {stranger_signed()}"}
    async with running_gateway(make_settings(), client_ip="127.0.0.20") as gw:
        statuses = [
            (await gw.get("/api/v1/systems/1", headers=bad)).status_code for _ in range(300)
        ]
        refused = await gw.get("/api/v1/systems/1", headers=bad)
        # A good token not yet verified is refused too: no verification is spent on it.
        fresh = await gw.get("/api/v1/systems/1", headers=auth(mint(keys)))
    assert statuses.count(401) == 30
    assert statuses.count(429) == 270
    assert verifications == 30
    assert_rate_limited(refused)
    assert_rate_limited(fresh)
    assert "failed authentications" in refused.json()["detail"]
    assert not services["registry"].state.seen


async def test_the_failure_budget_is_per_address_and_spares_a_remembered_token(
    make_settings: SettingsFactory, keys: DevKeys
) -> None:
    settings = make_settings(rate_limit_auth_failures="2/minute")
    good = auth(mint(keys, sub="behind-the-same-nat"))
    async with running_gateway(settings, client_ip="127.0.0.21") as gw:
        assert (await gw.get("/api/v1/systems/1", headers=good)).status_code == 200
        for _ in range(2):
            assert (await gw.get("/api/v1/systems/1")).status_code == 401  # no token at all
        assert_rate_limited(await gw.get("/api/v1/systems/1", headers=auth("a.b.c")))
        # Verified before, still remembered: no verification needed, so not refused.
        assert (await gw.get("/api/v1/systems/1", headers=good)).status_code == 200
    async with running_gateway(settings, client_ip="127.0.0.22") as other:
        assert (await other.get("/api/v1/systems/1", headers=auth("a.b.c"))).status_code == 401


async def test_the_failure_budget_covers_a_bad_token_on_the_anonymous_route(
    make_settings: SettingsFactory,
) -> None:
    settings = make_settings(rate_limit_auth_failures="1/minute")
    async with running_gateway(settings, client_ip="127.0.0.23") as gw:
        assert (await gw.post(ANSWERS, headers=auth("a.b.c"), json={})).status_code == 401
        assert_rate_limited(await gw.post(ANSWERS, headers=auth("a.b.c"), json={}))
