"""Rate limits: per client (the token's sub) and per IP on anonymous routes; 429 with
Retry-After; the questionnaire answers are the one route open without a token."""

from __future__ import annotations

import httpx
import pytest
from limits import parse

from gateway.ratelimit import MemoryWindows, RateLimiter, async_storage_uri
from shared.auth import DevKeys
from shared.errors import PROBLEM_JSON, GovitError
from tests.gateway.conftest import SettingsFactory
from tests.gateway.support import Upstream, mint, running_gateway
from tests.support.fixtures import auth

ANSWERS = "/api/v1/evaluations/e-1/questionnaire-answers"


def assert_rate_limited(response: httpx.Response, window_seconds: int = 60) -> None:
    assert response.status_code == 429, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.json()["code"] == "rate_limited"
    retry_after = int(response.headers["retry-after"])
    assert 1 <= retry_after <= window_seconds
    assert response.json()["retry_after"] == retry_after


async def test_a_client_past_its_limit_gets_429_with_retry_after_and_others_do_not(
    make_settings: SettingsFactory, keys: DevKeys, services: dict[str, Upstream]
) -> None:
    async with running_gateway(make_settings(rate_limit_client="3/minute")) as gw:
        busy = auth(mint(keys, sub="busy-client"))
        statuses = [
            (await gw.get("/api/v1/projects/1", headers=busy)).status_code for _ in range(3)
        ]
        refused = await gw.get("/api/v1/projects/1", headers=busy)
        other = await gw.get("/api/v1/projects/1", headers=auth(mint(keys, sub="calm-client")))
    assert statuses == [200, 200, 200]
    assert_rate_limited(refused)
    assert other.status_code == 200
    assert len(services["approval"].state.seen) == 4


async def test_the_limit_counts_per_client_across_every_service(
    make_settings: SettingsFactory, keys: DevKeys
) -> None:
    async with running_gateway(make_settings(rate_limit_client="2/minute")) as gw:
        token = auth(mint(keys, sub="roaming"))
        assert (await gw.get("/api/v1/projects/1", headers=token)).status_code == 200
        assert (await gw.get("/api/v1/filings/1", headers=token)).status_code == 200
        assert_rate_limited(await gw.get("/api/v1/units/1", headers=token))


async def test_a_platform_client_can_be_given_its_own_limit(
    make_settings: SettingsFactory, keys: DevKeys
) -> None:
    settings = make_settings(
        rate_limit_client="1/minute",
        rate_limit_client_overrides={"platform-gov-cloud": "4/minute"},
    )
    async with running_gateway(settings) as gw:
        platform = auth(mint(keys, sub="platform-gov-cloud", roles=("platform",)))
        statuses = [
            (await gw.get("/api/v1/systems", headers=platform)).status_code for _ in range(4)
        ]
        assert statuses == [200] * 4
        assert_rate_limited(await gw.get("/api/v1/systems", headers=platform))


async def test_questionnaire_answers_need_no_token_and_are_limited_per_ip(
    make_settings: SettingsFactory, services: dict[str, Upstream]
) -> None:
    settings = make_settings(rate_limit_anonymous="2/minute")
    async with running_gateway(settings, client_ip="127.0.0.10") as first_ip:
        ok = [(await first_ip.post(ANSWERS, json={"q1": 5})).status_code for _ in range(2)]
        refused = await first_ip.post(ANSWERS, json={"q1": 5})
    assert ok == [200, 200]
    assert_rate_limited(refused)
    seen = services["evaluation"].state.seen
    assert len(seen) == 2
    assert "authorization" not in seen[0].headers


async def test_each_ip_has_its_own_anonymous_allowance(
    make_settings: SettingsFactory,
) -> None:
    settings = make_settings(rate_limit_anonymous="1/minute")
    for ip in ("127.0.0.11", "127.0.0.12"):
        async with running_gateway(settings, client_ip=ip) as gw:
            assert (await gw.post(ANSWERS, json={})).status_code == 200


async def test_anonymous_access_is_only_for_the_listed_route(gw: httpx.AsyncClient) -> None:
    assert (await gw.post("/api/v1/evaluations", json={})).status_code == 401
    assert (await gw.get(ANSWERS)).status_code == 401  # POST only
    assert (await gw.post(f"{ANSWERS}/extra", json={})).status_code == 401


async def test_a_token_sent_to_an_anonymous_route_is_still_verified(
    gw: httpx.AsyncClient, keys: DevKeys
) -> None:
    bad = await gw.post(ANSWERS, headers={"Authorization": "Bearer x.y.z"}, json={})
    assert bad.status_code == 401
    good = await gw.post(ANSWERS, headers=auth(mint(keys)), json={})
    assert good.status_code == 200


async def test_rate_limits_can_be_switched_off(
    make_settings: SettingsFactory, keys: DevKeys
) -> None:
    settings = make_settings(rate_limit_enabled=False, rate_limit_client="1/minute")
    async with running_gateway(settings) as gw:
        token = auth(mint(keys))
        for _ in range(3):
            assert (await gw.get("/api/v1/projects/1", headers=token)).status_code == 200


async def test_several_limits_apply_together() -> None:
    limiter = RateLimiter("memory://", client_limit="2/second;3/minute", anonymous_limit="1/hour")
    await limiter.check_client("a")
    await limiter.check_client("a")
    with pytest.raises(GovitError) as caught:
        await limiter.check_client("a")
    assert caught.value.status == 429
    assert 1 <= int(caught.value.headers["Retry-After"]) <= 1


async def test_a_storage_outage_lets_requests_through(monkeypatch: pytest.MonkeyPatch) -> None:
    limiter = RateLimiter("memory://", client_limit="1/minute", anonymous_limit="1/minute")

    async def broken(*_: object) -> bool:
        raise ConnectionError("storage down")

    monkeypatch.setattr(limiter._window, "hit", broken)
    for _ in range(3):
        await limiter.check_client("a")
        await limiter.check_anonymous("127.0.0.1")


def test_storage_uris_use_their_async_variant() -> None:
    assert async_storage_uri("redis://cache:6379/0") == "async+redis://cache:6379/0"
    assert async_storage_uri("async+valkey://cache:6379") == "async+valkey://cache:6379"


class _Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def test_the_memory_window_is_exact_and_moves() -> None:
    clock = _Clock()
    windows = MemoryWindows(clock)
    item = parse("3/minute")
    for step in (0.0, 10.0, 20.0):
        clock.now = 1_000.0 + step
        assert windows.hit(item, "a")
    clock.now = 1_059.0
    assert not windows.test(item, "a")
    assert not windows.hit(item, "a")  # a refused hit is not counted
    assert windows.reset_time(item, "a") == 1_060.0  # the first hit leaves then
    assert windows.hit(item, "b")  # another key has its own window
    clock.now = 1_060.0
    assert windows.test(item, "a")
    assert windows.hit(item, "a")
    assert not windows.hit(item, "a")
    clock.now = 1_070.0  # the second hit (at 1,010) has left
    assert windows.hit(item, "a")


def test_the_memory_window_forgets_keys_whose_hits_have_all_left() -> None:
    clock = _Clock()
    windows = MemoryWindows(clock, sweep_seconds=30)
    item = parse("5/minute")
    for client in ("a", "b", "c"):
        assert windows.hit(item, client)
    assert len(windows) == 3
    clock.now += 45  # a sweep is due, but every hit is still inside its window
    assert windows.hit(item, "a")
    assert len(windows) == 3
    clock.now += 61  # b and c have no hit left; a's second hit has left too
    assert windows.hit(item, "d")
    assert len(windows) == 1
    assert windows.reset_time(item, "b") == clock.now  # nothing to wait for
