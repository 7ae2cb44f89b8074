"""The gateway's settings (environment, prefix ``GOVIT_``), validated at start.

Route-matching settings (anonymous routes, import routes, per-route timeouts) are
regular expressions matched against ``"<METHOD> <path>"``, e.g.
``"POST /api/v1/systems:import"``. Lists and maps are given as JSON in the
environment: ``GOVIT_CORS_ORIGINS='["https://console.example"]'``.
"""

from __future__ import annotations

import re
from typing import Literal

from limits import parse_many
from pydantic import Field, field_validator, model_validator

from shared.settings import GovitSettings

MIB = 1024 * 1024
SERVICES = ("registry", "approval", "filing", "funding", "evaluation")


class GatewaySettings(GovitSettings):
    service_name: str = "gateway"
    host: str = "127.0.0.1"
    port: int = 8000

    # Upstreams: Kubernetes service names by default; `make up` points them at 127.0.0.1.
    registry_url: str = "http://registry:8080"
    approval_url: str = "http://approval:8080"
    filing_url: str = "http://filing:8080"
    funding_url: str = "http://funding:8080"
    evaluation_url: str = "http://evaluation:8080"

    # "aiohttp" is the measured winner (bench/gateway.py); "httpx" stays for comparison.
    upstream_client: Literal["aiohttp", "httpx"] = "aiohttp"
    upstream_pool_size: int = Field(default=256, ge=1)
    upstream_connect_timeout_seconds: float = Field(default=3.0, gt=0)
    # The longest an upstream may stay silent (before its answer or between two reads).
    upstream_timeout_seconds: float = Field(default=30.0, gt=0)
    route_timeouts: dict[str, float] = Field(
        default_factory=lambda: {
            r"^POST /api/v1/systems:import$": 120.0,
            r"^GET /api/v1/systems:export$": 120.0,
        }
    )

    max_body_bytes: int = Field(default=1 * MIB, ge=0)
    max_import_bytes: int = Field(default=20 * MIB, ge=0)
    import_routes: tuple[str, ...] = (r"^POST /api/v1/systems:import$",)

    # Routes answered without a token (a token, when sent, is still verified).
    anonymous_routes: tuple[str, ...] = (r"^POST /api/v1/evaluations/[^/]+/questionnaire-answers$",)

    rate_limit_enabled: bool = True
    rate_limit_client: str = "600/minute"
    rate_limit_anonymous: str = "30/minute"
    # Failed authentications (any 401) per IP; past it, 429 before any verification.
    rate_limit_auth_failures: str = "30/minute"
    rate_limit_client_overrides: dict[str, str] = Field(default_factory=dict)
    rate_limit_storage_uri: str = "memory://"

    cors_origins: tuple[str, ...] = ()

    # /metrics is served here, never on the public port; unset: not served (0: any port).
    metrics_host: str = "127.0.0.1"
    metrics_port: int | None = Field(default=None, ge=0, le=65535)

    jwks_min_refresh_seconds: float = Field(default=10.0, ge=0)
    # A verified token is remembered this long (never past its exp); 0 turns it off.
    token_cache_seconds: float = Field(default=30.0, ge=0)
    token_cache_size: int = Field(default=10_000, ge=0)
    jwks_max_age_seconds: float = Field(default=300.0, gt=0)

    readiness_timeout_seconds: float = Field(default=2.0, gt=0)
    openapi_timeout_seconds: float = Field(default=5.0, gt=0)
    openapi_cache_seconds: float = Field(default=30.0, ge=0)

    def upstream_urls(self) -> dict[str, str]:
        return {name: str(getattr(self, f"{name}_url")).rstrip("/") for name in SERVICES}

    @field_validator("anonymous_routes", "import_routes")
    @classmethod
    def _patterns_compile(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for pattern in value:
            _compiles(pattern)
        return value

    @field_validator("route_timeouts")
    @classmethod
    def _timeouts_valid(cls, value: dict[str, float]) -> dict[str, float]:
        for pattern, seconds in value.items():
            _compiles(pattern)
            if seconds <= 0:
                raise ValueError(f"route timeout for {pattern!r} must be positive")
        return value

    @field_validator("rate_limit_client", "rate_limit_anonymous", "rate_limit_auth_failures")
    @classmethod
    def _limit_parses(cls, value: str) -> str:
        parse_many(value)
        return value

    @field_validator("rate_limit_client_overrides")
    @classmethod
    def _overrides_parse(cls, value: dict[str, str]) -> dict[str, str]:
        for limit in value.values():
            parse_many(limit)
        return value

    @model_validator(mode="after")
    def _upstreams_are_http(self) -> GatewaySettings:
        for name, url in self.upstream_urls().items():
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"GOVIT_{name.upper()}_URL must be an http(s) URL, not {url!r}")
        if self.environment == "production" and "*" in self.cors_origins:
            raise ValueError("GOVIT_CORS_ORIGINS must list origins in production, not '*'")
        return self


def _compiles(pattern: str) -> None:
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"{pattern!r} is not a regular expression: {exc}") from None
