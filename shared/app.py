"""The app factory every service uses.

It gives each service the same skeleton: ``/healthz``, ``/readyz`` (database,
NATS and every background worker), ``/metrics``, JSON logs with request ids,
problem+json errors, the token verifier, and a lifespan that opens the engine and
NATS, runs the outbox relay, the event consumers and any other worker under one
supervisor (``shared/events/workers.py``), and stops them cleanly. Nothing
connects at import time.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Annotated, Any

from asgi_correlation_id import CorrelationIdMiddleware
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from prometheus_fastapi_instrumentator import Instrumentator
from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession

from shared.auth import TokenVerifier
from shared.body_limit import MAX_BODY_BYTES, BodyLimitMiddleware
from shared.clock import Clock, SystemClock
from shared.db.session import Database
from shared.errors import GovitError
from shared.events.bus import Bus
from shared.events.consumer import Consumer
from shared.events.relay import OutboxRelay
from shared.events.tables import EventTables
from shared.events.workers import Supervisor, Worker
from shared.idempotency import FUNCTION_STACK, ExpiredKeysPurge, IdempotencyStore
from shared.json_body import StrictJSONMiddleware
from shared.observability import configure_logging, remember_route_names
from shared.openapi import install_openapi
from shared.problems import install_problem_handlers, problem_response
from shared.settings import GovitSettings

log = logging.getLogger(__name__)

ConsumerFactory = Callable[[FastAPI], Sequence[Consumer]]
WorkerFactory = Callable[[FastAPI], Sequence[Worker]]
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


def create_app(
    *,
    settings: GovitSettings,
    title: str,
    routers: Sequence[APIRouter],
    tables: EventTables,
    consumers: ConsumerFactory | None = None,
    workers: WorkerFactory | None = None,
    idempotency_keys: Table | None = None,
    body_limits: dict[str, int] | None = None,
    version: str = "1.0.0",
) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(settings.service_name, settings.log_level)
        db = Database(settings.database_url)
        await db.wait_until_ready(settings.startup_wait_seconds)
        bus = await Bus.connect(
            settings.nats_url,
            name=settings.service_name,
            wait_seconds=settings.startup_wait_seconds,
        )
        app.state.db = db
        app.state.bus = bus
        app.state.tables = tables
        # Every background worker runs under the one supervisor, which restarts it
        # with backoff if it ends and tells /readyz while it is down.
        supervisor = Supervisor()
        if settings.outbox_relay_enabled:
            supervisor.add(
                OutboxRelay(db, tables.outbox, bus, poll_seconds=settings.outbox_poll_seconds)
            )
        if idempotency_keys is not None:
            store = IdempotencyStore(db, idempotency_keys)
            supervisor.add(ExpiredKeysPurge(store, settings.idempotency_purge_seconds))
        supervisor.add_all(consumers(app) if consumers else ())
        supervisor.add_all(workers(app) if workers else ())
        app.state.workers = supervisor
        stop = asyncio.Event()
        supervisor.start(stop)
        log.info("started", extra={"workers": list(supervisor.workers)})
        try:
            yield
        finally:
            stop.set()
            await supervisor.wait(grace_seconds=10)
            await bus.close()
            await db.dispose()

    app = FastAPI(title=title, version=version, lifespan=lifespan)
    app.state.settings = settings
    app.state.clock = SystemClock(offset_days=settings.clock_offset_days)
    app.state.token_verifier = TokenVerifier.from_settings(settings)
    install_problem_handlers(app)
    install_openapi(app)  # errors documented as the problem+json they are
    # Inside the body limit: duplicate JSON keys are refused (RFC 7493), see json_body.
    app.add_middleware(StrictJSONMiddleware)
    # API.md: bodies up to 1 MiB, larger only where a route says so (imports).
    app.add_middleware(BodyLimitMiddleware, default=MAX_BODY_BYTES, larger=body_limits or {})
    app.add_middleware(
        CorrelationIdMiddleware,
        header_name="X-Request-ID",
        validator=lambda value: bool(_REQUEST_ID.match(value)),
    )
    Instrumentator(excluded_handlers=["/metrics"]).instrument(app).expose(
        app, endpoint="/metrics", include_in_schema=False
    )
    remember_route_names(app)  # the same metrics, without a walk of every route each time
    app.include_router(health_router())
    for router in routers:
        app.include_router(router)
    return app


def health_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz", response_model=None)
    async def readyz(request: Request) -> dict[str, Any] | JSONResponse:
        checks: dict[str, str] = {}
        try:
            await asyncio.wait_for(request.app.state.db.ping(), timeout=2)
            checks["database"] = "ok"
        except Exception as exc:
            checks["database"] = f"unavailable: {type(exc).__name__}"
        try:
            await asyncio.wait_for(request.app.state.bus.ping(), timeout=2)
            checks["nats"] = "ok"
        except Exception as exc:
            checks["nats"] = f"unavailable: {type(exc).__name__}"
        supervisor: Supervisor | None = getattr(request.app.state, "workers", None)
        workers = supervisor.report() if supervisor else {}
        stalled = supervisor.not_ready() if supervisor else []
        if all(v == "ok" for v in checks.values()) and not stalled:
            return {"status": "ready", "checks": checks, "workers": workers}
        if stalled:  # name the worker: "ready" must never hide one that stopped working
            detail = "; ".join(f"worker {name} is {workers[name]}" for name in stalled)
        else:
            detail = "a dependency is unavailable"
        error = GovitError(503, "not_ready", detail, extra={"checks": checks, "workers": workers})
        return problem_response(request, error)

    return router


_READS = frozenset({"GET", "HEAD"})


async def _session(request: Request) -> AsyncSession:
    """The request's session, closed on the route's function-scoped exit stack.

    That stack is FastAPI's own (``FUNCTION_STACK``): it closes when the route
    function returns, before the response is sent, so it is the one commit point a
    ``yield`` dependency with ``scope="function"`` would be, without the ~60 µs of
    machinery FastAPI wraps around each ``yield`` dependency (bench/read_path.py).
    """
    stack = request.scope.get(FUNCTION_STACK)
    if not isinstance(stack, AsyncExitStack):
        raise RuntimeError("DbSession is a route dependency: no function-scoped exit stack")
    db: Database = request.app.state.db
    if request.method in _READS:
        # A GET changes nothing (RFC 9110 §9.2.1): no transaction block, so a page is
        # one round trip instead of three (BEGIN, SELECT, COMMIT); see Database.reading.
        return await stack.enter_async_context(db.reading())
    unit_of_work = db.transaction()
    session = await unit_of_work.__aenter__()

    async def commit_or_roll_back(*exc_info: Any) -> bool | None:
        # Shielded, as FastAPI shields a dependency's exit: a cancelled request never
        # leaves a commit half done.
        return await asyncio.shield(unit_of_work.__aexit__(*exc_info))

    stack.push_async_exit(commit_or_roll_back)
    return session


async def _clock(request: Request) -> Clock:  # async: a plain def would run in a thread
    clock: Clock = request.app.state.clock
    return clock


# The one commit point: the session commits before the response is sent, so a
# client that sees 201 can read its write back, and a failed commit is never a 201.
DbSession = Annotated[AsyncSession, Depends(_session)]
RequestClock = Annotated[Clock, Depends(_clock)]
