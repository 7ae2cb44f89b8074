"""A service app under test: every request on one connection, rolled back at the end."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from shared.clock import Clock
from shared.settings import GovitSettings
from tests.support.checks import assert_cloudevent
from tests.support.databases import Databases
from tests.support.fixtures import Stack, service_settings


@asynccontextmanager
async def running_app(
    service: str,
    build_app: Callable[[Any], FastAPI],
    settings_class: type[GovitSettings],
    stack: Stack,
    databases: Databases,
    **overrides: Any,
) -> AsyncIterator[FastAPI]:
    """``service``'s app on a fresh clone of its migrated database, its lifespan run.

    No outbox relay (``rolled_back_client`` needs the connection to itself); pass
    ``consumers_enabled=False`` and the like for the rest of the background work.
    """
    url = await databases.migrated(service)
    settings = service_settings(
        settings_class, stack, url, **{"outbox_relay_enabled": False, **overrides}
    )
    app = build_app(settings)
    async with app.router.lifespan_context(app):
        yield app


def app_fixture(
    service: str,
    build_app: Callable[[Any], FastAPI],
    settings_class: type[GovitSettings],
    *,
    clock: Clock | None = None,
    **overrides: Any,
) -> Any:
    """A session fixture yielding ``running_app(service, ...)``, its clock ``clock``
    if given; a conftest names it: ``filing_app = app_fixture("filing", ...)``."""

    async def fixture(
        stack: Stack, databases: Databases, dev_keys: object
    ) -> AsyncIterator[FastAPI]:
        async with running_app(
            service, build_app, settings_class, stack, databases, **overrides
        ) as app:
            if clock is not None:
                app.state.clock = clock
            yield app

    return pytest.fixture(scope="session")(fixture)


@asynccontextmanager
async def rolled_back_client(
    app: FastAPI, source: str, check: Callable[[dict[str, Any]], None] | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client on ``app`` whose writes all roll back when the test ends.

    Each request's session joins one outer transaction through a savepoint (the
    app's commit point commits only that savepoint), so tests share one migrated
    database and still start from its empty state. Whatever the test did, every
    event it wrote to the outbox must honour the contract (``assert_cloudevent``, or
    ``check`` where the service's events need more than it knows).
    The app must run no outbox relay: the relay must not use this connection.
    """
    db = app.state.db
    outbox = app.state.tables.outbox
    async with db.engine.connect() as conn:
        outer = await conn.begin()
        db.bind_to(conn)
        try:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                yield client
            envelopes: list[dict[str, Any]] = [
                row.envelope for row in await conn.execute(select(outbox.c.envelope))
            ]
            for envelope in envelopes:
                if check is None:
                    assert_cloudevent(envelope, source)
                else:
                    check(envelope)
        finally:
            db.bind_to(None)
            await outer.rollback()


def app_of(client: httpx.AsyncClient) -> FastAPI:
    """The app behind an ASGI client (a fuzz seeder's, say)."""
    transport = client._transport
    assert isinstance(transport, httpx.ASGITransport)
    app = transport.app
    assert isinstance(app, FastAPI)
    return app


def created_id(response: httpx.Response) -> str:
    """The ``id`` of what a 201 created (any other answer fails the test)."""
    assert response.status_code == 201, response.text
    ident: str = response.json()["id"]
    return ident
