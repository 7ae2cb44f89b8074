"""Every service starts on its own migrated database and answers the common endpoints."""

from __future__ import annotations

import importlib

import httpx
import pytest
from sqlalchemy import inspect

from deploy.local.stack import SERVICES
from shared.settings import GovitSettings
from tests.support.databases import Databases
from tests.support.fixtures import Stack, service_settings


def settings_for(service: str, stack: Stack, url: str) -> GovitSettings:
    module = importlib.import_module(f"services.{service}.app")
    settings_class = next(
        v for k, v in vars(module).items() if k.endswith("Settings") and k != "GovitSettings"
    )
    settings: GovitSettings = service_settings(settings_class, stack, url)
    return settings


@pytest.mark.parametrize("service", SERVICES)
async def test_service_migrates_and_answers_health_readiness_and_metrics(
    service: str, stack: Stack, databases: Databases, dev_keys: object
) -> None:
    url = await databases.migrated(service)
    module = importlib.import_module(f"services.{service}.app")
    app = module.build_app(settings_for(service, stack, url))
    async with app.router.lifespan_context(app):
        async with app.state.db.engine.connect() as conn:
            tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
        assert {"outbox", "inbox", "dead_letters", "alembic_version"} <= tables

        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=f"http://{service}") as client:
            assert (await client.get("/healthz")).json() == {"status": "ok"}
            ready = await client.get("/readyz")
            assert ready.status_code == 200, ready.text
            assert ready.json()["checks"] == {"database": "ok", "nats": "ok"}
            metrics = await client.get("/metrics")
            assert metrics.status_code == 200
            assert "http_request" in metrics.text

            missing = await client.get("/api/v1/nothing-here", headers={"X-Request-ID": "trace-42"})
            assert missing.status_code == 404
            assert missing.headers["content-type"] == "application/problem+json"
            assert missing.json()["code"] == "not_found"
            assert missing.headers["x-request-id"] == "trace-42"


async def test_readiness_reports_an_unreachable_database_as_503(
    stack: Stack, databases: Databases, dev_keys: object
) -> None:
    from services.approval.app import build_app

    url = await databases.migrated("approval")
    app = build_app(settings_for("approval", stack, url))
    async with app.router.lifespan_context(app):
        await app.state.db.dispose()
        # Point the engine at a port nothing listens on: readiness must say so, not hang.
        from shared.db.session import Database

        app.state.db = Database(url.replace(url.split("@")[1].split("/")[0], "127.0.0.1:1"))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://approval") as client:
            ready = await client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["code"] == "not_ready"
        assert ready.json()["checks"]["nats"] == "ok"
        assert ready.json()["checks"]["database"].startswith("unavailable")
