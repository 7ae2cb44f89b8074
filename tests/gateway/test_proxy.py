"""Forwarding: routing by prefix, headers, bodies both ways, size limits, upstream faults.

Upstream faults and streaming run with both upstream clients (aiohttp, the default,
and httpx), so the one the bench did not choose stays correct too.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from gateway.app import build_app
from gateway.routes import PREFIXES
from gateway.settings import SERVICES
from shared.auth import DevKeys
from shared.errors import PROBLEM_JSON
from tests.gateway.conftest import SettingsFactory
from tests.gateway.support import (
    BIG,
    Served,
    Upstream,
    gateway_settings,
    mint,
    running_gateway,
    unreachable_urls,
    upstreams,
)
from tests.support.fixtures import auth

CLIENTS = ["aiohttp", "httpx"]


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    body: dict[str, object] = response.json()
    assert body["status"] == status
    assert body["code"] == code
    return body


async def chunks(total: int, size: int = 1000) -> AsyncIterator[bytes]:
    sent = 0
    while sent < total:
        piece = min(size, total - sent)
        yield b"a" * piece
        sent += piece


# --- routing --------------------------------------------------------------------------


@pytest.mark.parametrize(("prefix", "service"), sorted(PREFIXES.items()))
async def test_each_prefix_of_the_owners_table_goes_to_its_service(
    gw: httpx.AsyncClient, keys: DevKeys, services: dict[str, Upstream], prefix: str, service: str
) -> None:
    response = await gw.get(f"{prefix}/some-id", headers=auth(mint(keys)))
    assert response.status_code == 200
    assert response.json()["service"] == service
    assert services[service].state.paths() == [f"{prefix}/some-id"]


async def test_a_colon_action_belongs_to_the_prefix_it_extends(
    gw: httpx.AsyncClient, keys: DevKeys
) -> None:
    response = await gw.post("/api/v1/systems:import", headers=auth(mint(keys)), content=b"a,b")
    assert response.json()["service"] == "registry"
    assert response.json()["raw_path"] == "/api/v1/systems:import"


@pytest.mark.parametrize(
    "path",
    ["/api/v1/systemsx", "/api/v1/unknown/1", "/api/v1/", "/api/v1/units/%2e%2e/projects/1"],
)
async def test_a_path_no_service_owns_is_404_route_not_found(
    gw: httpx.AsyncClient, keys: DevKeys, services: dict[str, Upstream], path: str
) -> None:
    assert_problem(await gw.get(path, headers=auth(mint(keys))), 404, "route_not_found")
    assert not any(u.state.seen for u in services.values())


async def test_the_path_and_query_reach_the_service_still_encoded(
    gw: httpx.AsyncClient, keys: DevKeys
) -> None:
    response = await gw.get(
        "/api/v1/systems/a%2Fb?q=%E6%94%BF%E5%8A%A1&limit=2&status=planned",
        headers=auth(mint(keys)),
    )
    assert response.json()["raw_path"] == "/api/v1/systems/a%2Fb"
    assert response.json()["query"] == "q=%E6%94%BF%E5%8A%A1&limit=2&status=planned"


# --- headers --------------------------------------------------------------------------


async def test_the_callers_token_is_forwarded_unchanged(
    gw: httpx.AsyncClient, keys: DevKeys, services: dict[str, Upstream]
) -> None:
    token = mint(keys)
    await gw.get("/api/v1/projects/1", headers=auth(token))
    assert services["approval"].state.seen[0].headers["authorization"] == f"Bearer {token}"


async def test_a_request_id_is_made_when_absent_and_travels_upstream(
    gw: httpx.AsyncClient, keys: DevKeys, services: dict[str, Upstream]
) -> None:
    response = await gw.get("/api/v1/projects/1", headers=auth(mint(keys)))
    request_id = response.headers["x-request-id"]
    assert request_id and request_id != "upstream-own-id"
    assert response.headers.get_list("x-request-id") == [request_id]
    assert services["approval"].state.seen[0].headers["x-request-id"] == request_id


async def test_the_callers_request_id_is_kept(
    gw: httpx.AsyncClient, keys: DevKeys, services: dict[str, Upstream]
) -> None:
    headers = {**auth(mint(keys)), "X-Request-ID": "platform-42.a:b"}
    response = await gw.get("/api/v1/projects/1", headers=headers)
    assert response.headers["x-request-id"] == "platform-42.a:b"
    assert services["approval"].state.seen[0].headers["x-request-id"] == "platform-42.a:b"


async def test_forwarded_for_carries_the_callers_address_after_earlier_proxies(
    gw: httpx.AsyncClient, keys: DevKeys, services: dict[str, Upstream]
) -> None:
    await gw.get("/api/v1/projects/1", headers=auth(mint(keys)))
    await gw.get(
        "/api/v1/projects/2", headers={**auth(mint(keys)), "X-Forwarded-For": "198.51.100.7"}
    )
    first, second = services["approval"].state.seen
    assert first.headers["x-forwarded-for"] == "127.0.0.2"
    assert second.headers["x-forwarded-for"] == "198.51.100.7, 127.0.0.2"
    assert first.headers["x-forwarded-proto"] == "http"
    assert first.headers["x-forwarded-host"] == "gateway"


async def test_hop_by_hop_headers_stop_at_the_gateway(
    gw: httpx.AsyncClient, keys: DevKeys, services: dict[str, Upstream]
) -> None:
    headers = {
        **auth(mint(keys)),
        "Connection": "keep-alive, X-Hop",
        "X-Hop": "1",
        "Keep-Alive": "timeout=5",
        "TE": "trailers",
        "Proxy-Authorization": "Basic c2VjcmV0",
        "X-End-To-End": "kept",
    }
    await gw.get("/api/v1/projects/1", headers=headers)
    seen = services["approval"].state.seen[0].headers
    for name in ("x-hop", "keep-alive", "te", "proxy-authorization"):
        assert name not in seen
    assert seen["x-end-to-end"] == "kept"
    assert seen["host"] == f"127.0.0.1:{services['approval'].port}"


async def test_cookies_an_upstream_sets_reach_the_caller_and_are_never_replayed(
    gw: httpx.AsyncClient, keys: DevKeys, services: dict[str, Upstream]
) -> None:
    response = await gw.get("/api/v1/units/cookie", headers=auth(mint(keys)))
    assert len(response.headers.get_list("set-cookie")) == 2
    gw.cookies.clear()
    await gw.get("/api/v1/units/1", headers=auth(mint(keys)))
    assert "cookie" not in services["registry"].state.seen[-1].headers


async def test_redirects_and_refusals_pass_through_untouched(
    gw: httpx.AsyncClient, keys: DevKeys
) -> None:
    redirect = await gw.get("/api/v1/units/redirect", headers=auth(mint(keys)))
    assert redirect.status_code == 302
    assert redirect.headers["location"] == "/api/v1/elsewhere"
    refused = await gw.post("/api/v1/units/refuse", headers=auth(mint(keys)), json={})
    assert_problem(refused, 409, "conflict_here")


# --- bodies ---------------------------------------------------------------------------


@pytest.mark.parametrize("client", CLIENTS)
async def test_a_chunked_request_body_streams_through_whole(
    make_settings: SettingsFactory, keys: DevKeys, client: str
) -> None:
    async with running_gateway(make_settings(upstream_client=client)) as gw:
        response = await gw.post(
            "/api/v1/systems", headers=auth(mint(keys)), content=chunks(300_000, 7_000)
        )
    assert response.status_code == 200
    assert response.json()["length"] == 300_000
    assert response.json()["sha256"] == hashlib.sha256(b"a" * 300_000).hexdigest()


@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize("path", ["/api/v1/systems/big", "/api/v1/systems/big-sized"])
async def test_a_large_answer_streams_back_whole(
    make_settings: SettingsFactory, keys: DevKeys, client: str, path: str
) -> None:
    async with running_gateway(make_settings(upstream_client=client)) as gw:
        response = await gw.get(path, headers=auth(mint(keys)))
    assert response.status_code == 200
    assert len(response.content) == BIG
    if path.endswith("big"):
        assert response.content[:256] == bytes(range(256))


async def test_a_head_request_gets_headers_and_no_body(
    gw: httpx.AsyncClient, keys: DevKeys
) -> None:
    response = await gw.head("/api/v1/systems/1", headers=auth(mint(keys)))
    assert response.status_code == 200
    assert response.content == b""


async def test_a_declared_body_over_1_mib_is_413_and_never_sent(
    gw: httpx.AsyncClient, keys: DevKeys, services: dict[str, Upstream]
) -> None:
    body = b"x" * (1024 * 1024 + 1)
    response = await gw.post("/api/v1/systems", headers=auth(mint(keys)), content=body)
    problem = assert_problem(response, 413, "payload_too_large")
    assert problem["limit_bytes"] == 1024 * 1024
    assert services["registry"].state.seen == []


@pytest.mark.parametrize("client", CLIENTS)
async def test_a_chunked_body_is_cut_off_with_413_once_it_passes_the_limit(
    make_settings: SettingsFactory, keys: DevKeys, client: str
) -> None:
    settings = make_settings(upstream_client=client, max_body_bytes=50_000)
    async with running_gateway(settings) as gw:
        over = await gw.post(
            "/api/v1/systems", headers=auth(mint(keys)), content=chunks(80_000, 4_000)
        )
        under = await gw.post(
            "/api/v1/systems", headers=auth(mint(keys)), content=chunks(50_000, 4_000)
        )
    assert_problem(over, 413, "payload_too_large")
    assert under.status_code == 200
    assert under.json()["length"] == 50_000


async def test_an_import_may_be_larger_than_other_bodies_up_to_its_own_limit(
    make_settings: SettingsFactory, keys: DevKeys
) -> None:
    settings = make_settings(max_body_bytes=1_000, max_import_bytes=20_000)
    async with running_gateway(settings) as gw:
        token = auth(mint(keys))
        imported = await gw.post("/api/v1/systems:import", headers=token, content=b"r" * 15_000)
        too_big = await gw.post("/api/v1/systems:import", headers=token, content=b"r" * 20_001)
        ordinary = await gw.post("/api/v1/systems", headers=token, content=b"r" * 1_001)
    assert imported.status_code == 200 and imported.json()["length"] == 15_000
    assert_problem(too_big, 413, "payload_too_large")
    assert_problem(ordinary, 413, "payload_too_large")


def test_the_default_limits_are_1_mib_and_20_mib_for_imports(
    make_settings: SettingsFactory,
) -> None:
    settings = make_settings()
    assert settings.max_body_bytes == 1024 * 1024
    assert settings.max_import_bytes == 20 * 1024 * 1024


# --- upstream faults ------------------------------------------------------------------


@pytest.mark.parametrize("client", CLIENTS)
async def test_an_upstream_killed_mid_test_answers_502(
    tmp_path: Path, jwks_file: Path, keys: DevKeys, client: str
) -> None:
    async with upstreams("registry") as started:
        registry = started["registry"]
        urls = {**unreachable_urls(), "registry": registry.url}
        settings = gateway_settings(tmp_path, jwks_file, urls, upstream_client=client)
        async with running_gateway(settings) as gw:
            assert (await gw.get("/api/v1/systems/1", headers=auth(mint(keys)))).status_code == 200
            await registry.stop()
            response = await gw.get("/api/v1/systems/1", headers=auth(mint(keys)))
            posted = await gw.post("/api/v1/systems", headers=auth(mint(keys)), json={"a": 1})
    problem = assert_problem(response, 502, "upstream_unavailable")
    assert problem["service"] == "registry"
    assert_problem(posted, 502, "upstream_unavailable")


async def test_an_upstream_that_never_started_answers_502(
    tmp_path: Path, jwks_file: Path, keys: DevKeys
) -> None:
    settings = gateway_settings(tmp_path, jwks_file, unreachable_urls())
    async with running_gateway(settings) as gw:
        response = await gw.get("/api/v1/filings/1", headers=auth(mint(keys)))
    assert_problem(response, 502, "upstream_unavailable")


@pytest.mark.parametrize("client", CLIENTS)
async def test_an_upstream_slower_than_the_timeout_answers_504(
    make_settings: SettingsFactory, keys: DevKeys, services: dict[str, Upstream], client: str
) -> None:
    settings = make_settings(upstream_client=client, upstream_timeout_seconds=0.2)
    async with running_gateway(settings) as gw:
        response = await gw.get("/api/v1/projects/1/hang", headers=auth(mint(keys)))
        services["approval"].state.release.set()
    problem = assert_problem(response, 504, "upstream_timeout")
    assert problem["service"] == "approval"


async def test_a_route_with_its_own_timeout_may_take_longer(
    make_settings: SettingsFactory, keys: DevKeys
) -> None:
    settings = make_settings(
        upstream_timeout_seconds=0.2,
        route_timeouts={r"^GET /api/v1/projects/patient/half-second$": 10},
    )
    async with running_gateway(settings) as gw:
        patient = await gw.get("/api/v1/projects/patient/half-second", headers=auth(mint(keys)))
        hurried = await gw.get("/api/v1/projects/hurried/half-second", headers=auth(mint(keys)))
    assert patient.status_code == 200
    assert_problem(hurried, 504, "upstream_timeout")


def test_every_service_has_a_base_url_setting(make_settings: SettingsFactory) -> None:
    assert set(make_settings().upstream_urls()) == set(SERVICES) == set(PREFIXES.values())


# --- over real sockets ------------------------------------------------------------------


async def test_over_real_sockets_answers_stream_and_an_oversized_chunked_upload_is_413(
    make_settings: SettingsFactory, keys: DevKeys, services: dict[str, Upstream]
) -> None:
    served = await Served(build_app(make_settings(max_body_bytes=100_000)), lifespan="on").start()
    try:
        async with httpx.AsyncClient(base_url=served.url, timeout=10) as client:
            token = auth(mint(keys))
            big = await client.get("/api/v1/systems/big", headers=token)
            small = await client.post(
                "/api/v1/systems", headers=token, content=chunks(60_000, 6_000)
            )
            over = await client.post(
                "/api/v1/systems", headers=token, content=chunks(400_000, 8_000)
            )
    finally:
        await served.stop()
    assert big.status_code == 200 and len(big.content) == BIG
    assert big.headers["x-request-id"]
    assert small.status_code == 200 and small.json()["length"] == 60_000
    assert_problem(over, 413, "payload_too_large")
