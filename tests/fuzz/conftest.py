"""The apps the fuzz calls: one per service, on a fresh migrated database seeded
through its own API, its lifespan run by schemathesis' ASGI transport (on the
transport's event-loop thread, where all of the app's requests then run).
"""

from __future__ import annotations

import importlib
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI
from schemathesis.python.asgi import shutdown_lifespans

from deploy.local.stack import SERVICES
from shared.auth import Role
from tests.fuzz.seeds import JURISDICTION, SEEDERS, Seeded
from tests.support.databases import Databases
from tests.support.fixtures import Stack, TokenFactory, service_settings

# Cases sent, by service and operation: the run's summary says how much was fuzzed.
CASES: Counter[str] = Counter()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if CASES:
        terminalreporter.write_line(
            f"schemathesis: {sum(CASES.values())} cases over {len(CASES)} operations"
        )


def build_app(service: str, stack: Stack | None = None, url: str = "") -> FastAPI:
    """The service's app; without ``stack`` only for reading its OpenAPI document
    (the factory connects to nothing until its lifespan starts)."""
    module = importlib.import_module(f"services.{service}.app")
    if stack is None:
        app: FastAPI = module.build_app()
        return app
    settings_class = next(
        v for k, v in vars(module).items() if k.endswith("Settings") and k != "GovitSettings"
    )
    # No relay: the fuzz is about HTTP answers; the outbox has its own tests.
    settings = service_settings(settings_class, stack, url, outbox_relay_enabled=False)
    app = module.build_app(settings)
    return app


@dataclass
class Target:
    app: FastAPI
    seeded: Seeded
    tokens: dict[Role, str]


def role_tokens(token: TokenFactory, seeded: Seeded) -> dict[Role, str]:
    """A token of each role in the seeded jurisdiction; the unit's org is a seeded unit."""
    tokens = {role: token(roles=[role.value], jurisdiction=JURISDICTION) for role in Role}
    tokens[Role.UNIT] = token(roles=["unit"], org=seeded.unit_org, jurisdiction=JURISDICTION)
    tokens[Role.PLATFORM] = token(
        roles=["platform"], sub="gov-cloud-platform", jurisdiction=JURISDICTION
    )
    return tokens


@pytest.fixture(scope="session")
async def fuzz_targets(
    stack: Stack, databases: Databases, token: TokenFactory
) -> AsyncIterator[dict[str, Target]]:
    targets: dict[str, Target] = {}
    for service in SERVICES:
        url = await databases.migrated(service)
        seeded = Seeded()
        if service in SEEDERS:
            seeding_app = build_app(service, stack, url)
            async with seeding_app.router.lifespan_context(seeding_app):
                transport = httpx.ASGITransport(app=seeding_app)
                async with httpx.AsyncClient(transport=transport, base_url="http://seed") as c:
                    seeded = await SEEDERS[service](c, token)
        app = build_app(service, stack, url)
        targets[service] = Target(app, seeded, role_tokens(token, seeded))
    yield targets
    shutdown_lifespans()  # the apps' engines close before the databases are dropped
