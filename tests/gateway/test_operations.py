"""What operators and browsers see: health, readiness of every upstream, metrics, CORS."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from prometheus_fastapi_instrumentator import Instrumentator
from prometheus_fastapi_instrumentator.middleware import PrometheusInstrumentatorMiddleware

from shared import observability
from shared.auth import DevKeys
from shared.errors import PROBLEM_JSON
from tests.gateway.conftest import SettingsFactory
from tests.gateway.support import (
    Upstream,
    gateway_settings,
    mint,
    running_gateway,
    scrape_metrics,
    unreachable_urls,
)
from tests.support.fixtures import auth

CONSOLE = "https://console.govit.example"


async def test_healthz_answers_without_asking_anyone(gw: httpx.AsyncClient) -> None:
    response = await gw.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_each_services_healthz_is_reachable_through_the_door(
    gw: httpx.AsyncClient, services: dict[str, Upstream]
) -> None:
    for name in services:
        response = await gw.get(f"/healthz/{name}")
        assert response.status_code == 200
        assert response.json() == {"status": "ok", "service": name}
    unknown = await gw.get("/healthz/payroll")
    assert unknown.status_code == 404
    assert unknown.json()["code"] == "route_not_found"


async def test_a_service_down_makes_its_healthz_a_502(tmp_path: Path, jwks_file: Path) -> None:
    settings = gateway_settings(tmp_path, jwks_file, unreachable_urls())
    async with running_gateway(settings) as gw:
        response = await gw.get("/healthz/filing")
    assert response.status_code == 502
    assert response.json()["code"] == "upstream_unavailable"


async def test_readyz_is_ready_when_every_upstream_is(
    gw: httpx.AsyncClient, services: dict[str, Upstream]
) -> None:
    response = await gw.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"] == dict.fromkeys(services, "ok")


async def test_readyz_is_503_when_one_upstream_is_not_ready(
    gw: httpx.AsyncClient, services: dict[str, Upstream]
) -> None:
    services["funding"].state.ready = False
    response = await gw.get("/readyz")
    assert response.status_code == 503
    assert response.headers["content-type"] == PROBLEM_JSON
    checks = response.json()["checks"]
    assert checks["funding"] == "not ready: 503"
    assert all(checks[name] == "ok" for name in services if name != "funding")


async def test_metrics_count_statuses_and_time_each_route(
    gw: httpx.AsyncClient, keys: DevKeys
) -> None:
    token = auth(mint(keys))
    await gw.get("/api/v1/systems/1", headers=token)
    await gw.get("/api/v1/systems/2", headers=token)
    await gw.get("/api/v1/systems/3")  # 401
    await gw.post("/api/v1/filings", headers=token, json={})
    text = await scrape_metrics(gw)

    def sample(name: str, **labels: str) -> float:
        wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        match = re.search(rf"^{name}{{{re.escape(wanted)}}} (\S+)$", text, re.MULTILINE)
        assert match, f"{name}{{{wanted}}} missing"
        return float(match.group(1))

    registry = {"method": "GET", "route": "/api/v1/systems", "service": "registry"}
    assert sample("govit_gateway_requests_total", **registry, status="200") == 2
    assert sample("govit_gateway_requests_total", **registry, status="401") == 1
    assert sample("govit_gateway_request_duration_seconds_count", **registry) == 3
    assert sample("govit_gateway_request_duration_seconds_bucket", **registry, le="+Inf") == 3
    filing = {"method": "POST", "route": "/api/v1/filings", "service": "filing"}
    assert sample("govit_gateway_requests_total", **filing, status="200") == 1
    assert "http_request_duration_seconds" in text  # the instrumentator's own


async def test_a_configured_console_origin_passes_cors_preflight_without_a_token(
    make_settings: SettingsFactory, keys: DevKeys
) -> None:
    async with running_gateway(make_settings(cors_origins=(CONSOLE,))) as gw:
        preflight = await gw.options(
            "/api/v1/systems",
            headers={
                "Origin": CONSOLE,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization, content-type",
            },
        )
        actual = await gw.get("/api/v1/systems", headers={**auth(mint(keys)), "Origin": CONSOLE})
        stranger = await gw.get(
            "/api/v1/systems", headers={**auth(mint(keys)), "Origin": "https://evil.example"}
        )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == CONSOLE
    assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
    assert actual.headers["access-control-allow-origin"] == CONSOLE
    assert "x-request-id" in actual.headers["access-control-expose-headers"].lower()
    assert "access-control-allow-origin" not in stranger.headers


async def test_without_configured_origins_no_cors_headers_are_sent(
    gw: httpx.AsyncClient, keys: DevKeys
) -> None:
    response = await gw.get("/api/v1/systems", headers={**auth(mint(keys)), "Origin": CONSOLE})
    assert "access-control-allow-origin" not in response.headers


async def test_request_metrics_name_each_path_by_its_route_once_remembered(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """shared.observability.remember_route_names: the instrumentator's labels stay the
    route templates (two ids, one template; a 405 under its route; an unknown path
    as the instrumentator names it), each path looked up once, the memory bounded."""
    monkeypatch.setattr(observability, "ROUTE_NAMES_KEPT", 3)
    registry = CollectorRegistry()
    app = FastAPI()

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        return {"id": item_id}

    Instrumentator(registry=registry).instrument(app)
    observability.remember_route_names(app)
    lookups: list[str] = []
    looked_up = PrometheusInstrumentatorMiddleware._get_handler

    def counting(self: PrometheusInstrumentatorMiddleware, request: Any) -> tuple[str, bool]:
        lookups.append(request.scope["path"])
        return looked_up(self, request)

    monkeypatch.setattr(PrometheusInstrumentatorMiddleware, "_get_handler", counting)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        for path in ("/items/1", "/items/2", "/items/1", "/items/1"):
            assert (await client.get(path)).status_code == 200
        assert (await client.post("/items/1")).status_code == 405
        assert (await client.get("/nowhere")).status_code == 404
        for path in ("/items/3", "/items/4", "/items/1"):  # GET /items/1 was forgotten
            await client.get(path)
    # GET /items/1 twice (then forgotten), POST /items/1 once: method is in the key.
    assert lookups == [
        "/items/1",
        "/items/2",
        "/items/1",
        "/nowhere",
        "/items/3",
        "/items/4",
        "/items/1",
    ]

    def count(**labels: str) -> float | None:
        return registry.get_sample_value("http_requests_total", labels)

    assert count(handler="/items/{item_id}", method="GET", status="2xx") == 7
    assert count(handler="/items/{item_id}", method="POST", status="4xx") == 1
    assert count(handler="none", method="GET", status="4xx") == 1
