"""Fixtures: signing keys of the gateway's own, five running upstreams, a running gateway."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.settings import SERVICES, GatewaySettings
from shared.auth import DevKeys, ensure_dev_keys
from tests.gateway.support import Upstream, gateway_settings, running_gateway, upstreams

SettingsFactory = Callable[..., GatewaySettings]


@pytest.fixture(scope="session")
def keys(tmp_path_factory: pytest.TempPathFactory) -> DevKeys:
    # Not the session's dev keys: rotation tests rewrite the JWKS they read.
    return ensure_dev_keys(tmp_path_factory.mktemp("gateway-keys"))


@pytest.fixture
def jwks_file(tmp_path: Path, keys: DevKeys) -> Path:
    path = tmp_path / "jwks.json"
    path.write_bytes(keys.jwks_file.read_bytes())
    return path


@pytest.fixture(scope="module")
async def running_upstreams() -> AsyncIterator[dict[str, Upstream]]:
    async with upstreams(*SERVICES) as started:
        yield started


@pytest.fixture
def services(running_upstreams: dict[str, Upstream]) -> dict[str, Upstream]:
    """The five upstreams, their records cleared for this test."""
    for upstream in running_upstreams.values():
        upstream.state.seen.clear()
        upstream.state.ready = True
        upstream.state.openapi = None
        upstream.state.release = asyncio.Event()
    return running_upstreams


@pytest.fixture
def make_settings(
    tmp_path: Path, jwks_file: Path, services: dict[str, Upstream]
) -> SettingsFactory:
    def make(**overrides: Any) -> GatewaySettings:
        urls = {name: upstream.url for name, upstream in services.items()}
        return gateway_settings(tmp_path, jwks_file, urls, **overrides)

    return make


@pytest.fixture
async def gw(make_settings: SettingsFactory) -> AsyncIterator[httpx.AsyncClient]:
    async with running_gateway(make_settings()) as client:
        yield client
