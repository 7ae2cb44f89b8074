"""Settings are checked at start: a bad route pattern, limit or URL refuses to run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from gateway.routes import RouteTable
from gateway.settings import GatewaySettings


def settings(tmp_path: Path, **overrides: Any) -> GatewaySettings:
    return GatewaySettings(
        environment="test", home=tmp_path, jwks_file=tmp_path / "jwks.json", **overrides
    )


def test_the_defaults_point_at_kubernetes_service_names(tmp_path: Path) -> None:
    urls = settings(tmp_path).upstream_urls()
    assert urls["registry"] == "http://registry:8080"
    assert urls["evaluation"] == "http://evaluation:8080"


def test_upstream_urls_come_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GOVIT_FILING_URL", "http://127.0.0.1:8103/")
    monkeypatch.setenv("GOVIT_CORS_ORIGINS", '["https://console.example"]')
    loaded = settings(tmp_path)
    assert loaded.upstream_urls()["filing"] == "http://127.0.0.1:8103"
    assert loaded.cors_origins == ("https://console.example",)


@pytest.mark.parametrize(
    "overrides",
    [
        {"rate_limit_client": "lots"},
        {"rate_limit_anonymous": "30 per fortnight"},
        {"rate_limit_client_overrides": {"platform": "many"}},
        {"anonymous_routes": ("^POST (unclosed",)},
        {"route_timeouts": {"^GET /x$": 0}},
        {"registry_url": "registry:8080"},
        {"max_body_bytes": -1},
    ],
)
def test_a_bad_setting_refuses_to_start(tmp_path: Path, overrides: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        settings(tmp_path, **overrides)


def test_production_refuses_a_wildcard_cors_origin(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="CORS"):
        GatewaySettings(
            environment="production", jwks_url="https://id.example/jwks", cors_origins=("*",)
        )


def test_timeouts_and_body_limits_are_chosen_per_route(tmp_path: Path) -> None:
    table = RouteTable(settings(tmp_path))
    assert table.timeout("POST", "/api/v1/systems:import") == 120
    assert table.timeout("GET", "/api/v1/systems") == 30
    assert table.body_limit("POST", "/api/v1/systems:import") == 20 * 1024 * 1024
    assert table.body_limit("POST", "/api/v1/systems") == 1024 * 1024
    assert table.is_anonymous("POST", "/api/v1/evaluations/e1/questionnaire-answers")
    assert not table.is_anonymous("GET", "/api/v1/evaluations/e1/questionnaire-answers")
