"""The gateway app: ``uvicorn --factory gateway.app:build_app`` (or ``python -m gateway``).

One door for the suite: routes ``/api/v1/...`` by prefix to the owning service,
verifies the caller's JWT first and forwards it, rate-limits, limits body sizes,
and serves the merged OpenAPI (``/openapi.json``, ``/docs``), ``/healthz`` and
``/readyz``; ``/metrics`` on a port of its own (``GOVIT_METRICS_PORT``). No
database, no NATS. The upstream client, the rate-limit storage and the metrics
server are created in the lifespan, never at import.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from asgi_correlation_id import CorrelationIdMiddleware
from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from starlette.responses import Response

from gateway.auth import VerifiedTokens
from gateway.clients import UpstreamClient, make_client
from gateway.hardening import SafeAnswers
from gateway.health import health_router
from gateway.metrics import MetricsServer, install_metrics
from gateway.openapi import SWAGGER_UI_URL, OpenApiAggregator, SwaggerUiAssets, openapi_router
from gateway.proxy import Gateway
from gateway.ratelimit import RateLimiter
from gateway.routes import RouteTable
from gateway.settings import GatewaySettings
from shared.auth import TokenVerifier
from shared.observability import configure_logging
from shared.problems import install_problem_handlers

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
PROXIED_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def _gateway(request: Request) -> Gateway:
    gateway: Gateway = request.app.state.gateway
    return gateway


def _client(request: Request) -> UpstreamClient:
    return _require(_gateway(request).client)


def _aggregator(request: Request) -> OpenApiAggregator:
    aggregator: OpenApiAggregator = request.app.state.openapi
    return aggregator


async def _proxy(request: Request) -> Response:
    return await _gateway(request).handle(request)


def build_app(settings: GatewaySettings | None = None) -> FastAPI:
    settings = settings or GatewaySettings()
    table = RouteTable(settings)
    verifier = TokenVerifier.from_settings(
        settings,
        min_refresh_interval=settings.jwks_min_refresh_seconds,
        max_age=settings.jwks_max_age_seconds,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(settings.service_name, settings.log_level)
        gateway.client = make_client(
            settings.upstream_client,
            pool_size=settings.upstream_pool_size,
            connect_timeout=settings.upstream_connect_timeout_seconds,
        )
        if settings.rate_limit_enabled:
            gateway.limiter = RateLimiter(
                settings.rate_limit_storage_uri,
                client_limit=settings.rate_limit_client,
                anonymous_limit=settings.rate_limit_anonymous,
                client_overrides=settings.rate_limit_client_overrides,
                failure_limit=settings.rate_limit_auth_failures,
            )
        if settings.metrics_port is not None:
            app.state.metrics = MetricsServer(
                metrics.registry, settings.metrics_host, settings.metrics_port
            )
        try:
            yield
        finally:
            if app.state.metrics is not None:
                app.state.metrics.close()
                app.state.metrics = None
            await gateway.client.aclose()
            gateway.client = gateway.limiter = None
            await verifier.aclose()

    app = FastAPI(
        title="govit gateway",
        version="1.0.0",
        lifespan=lifespan,
        openapi_url=None,  # the merged document replaces the gateway's own
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.token_verifier = verifier
    app.state.metrics = None  # the MetricsServer, while the lifespan runs
    install_problem_handlers(app)
    metrics = install_metrics(app)
    # One memory of verified tokens: the verifier's (GOVIT_TOKEN_CACHE_SECONDS/_SIZE).
    gateway = Gateway(table=table, tokens=VerifiedTokens(verifier), limiter=None, metrics=metrics)
    app.state.gateway = gateway
    urls = settings.upstream_urls()
    app.state.openapi = OpenApiAggregator(
        table,
        urls,
        lambda: _require(gateway.client),
        timeout=settings.openapi_timeout_seconds,
        cache_seconds=settings.openapi_cache_seconds,
    )
    app.include_router(health_router(_client, urls, settings.readiness_timeout_seconds))
    app.include_router(openapi_router(_aggregator))
    app.mount(SWAGGER_UI_URL, SwaggerUiAssets(), name="swagger-ui")
    app.router.add_route(
        "/api/v1/{path:path}", _proxy, methods=PROXIED_METHODS, include_in_schema=False
    )
    app.add_middleware(SafeAnswers)  # inside the correlation id: its 414 gets an id too
    app.add_middleware(
        CorrelationIdMiddleware,
        header_name="X-Request-ID",
        validator=lambda value: bool(_REQUEST_ID.match(value)),
    )
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=PROXIED_METHODS,
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "X-Request-ID"],
            expose_headers=["X-Request-ID", "Retry-After", "Location", "Content-Disposition"],
            max_age=600,
        )
    return app


def _require(client: UpstreamClient | None) -> UpstreamClient:
    assert client is not None, "the gateway's lifespan has not run"
    return client
