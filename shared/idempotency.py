"""``Idempotency-Key`` on the POSTs that move money or state (API.md, ARCHITECTURE.md).

The first answer to a key is stored and replayed for the same key and body; the same
key with another body is 422 ``idempotency_key_reused``; while the first request
with that key is still running, another is 409 ``idempotency_key_in_flight``. Keys
belong to one caller (the token's ``sub``) on one route, and expire.

A service wires it in three lines::

    idempotency_keys = idempotency_table(Base.metadata)          # models.py
    router = APIRouter(route_class=IdempotentRoute)              # api.py
    @router.post("/things", dependencies=[idempotent(idempotency_keys)])

How it holds across processes: the store is a table in the service's PostgreSQL.
A request claims its key with INSERT .. ON CONFLICT in its own short transaction,
committed before the use case starts, so a duplicate arriving at any instance sees
the claim ("in flight") rather than starting the same work again. The answer is
stored when the use case has committed. Only 2xx answers are kept: a refusal or an
error releases the key, since nothing was written and a retry may well succeed.

One gap remains, and it is bounded: a process that dies between committing the use
case and storing its answer leaves the key "in flight" until its lease runs out
(``LEASE``, longer than any route's time limit), after which a retry runs again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Callable, Coroutine
from contextlib import AsyncExitStack
from datetime import timedelta
from typing import Any

from fastapi import Depends, Header, Request, Response
from fastapi.params import Depends as DependsParam
from fastapi.routing import APIRoute
from sqlalchemy import (
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    and_,
    delete,
    func,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB, insert

from shared.auth import current_principal
from shared.db.session import Database
from shared.errors import GovitError
from shared.events.workers import Periodic

log = logging.getLogger(__name__)

HEADER = "Idempotency-Key"
TTL = timedelta(hours=24)  # how long an answer is replayed
LEASE = timedelta(minutes=5)  # how long a claim counts as in flight without an answer
_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")  # visible ASCII, as the IETF draft's examples
_REPLAYED_HEADERS = ("content-type", "location", "preference-applied")

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


def idempotency_table(metadata: MetaData) -> Table:
    return Table(
        "idempotency_keys",
        metadata,
        Column("caller", Text, nullable=False),
        Column("route", Text, nullable=False),
        Column("key", Text, nullable=False),
        # sha256 of method, path, query and (canonical) body: "the same request".
        Column("fingerprint", Text, nullable=False),
        Column("status", Integer, nullable=True),  # NULL while in flight
        Column("headers", JSONB, nullable=True),
        Column("body", LargeBinary, nullable=True),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("locked_until", DateTime(timezone=True), nullable=False),
        Column("expires_at", DateTime(timezone=True), nullable=False),
        PrimaryKeyConstraint("caller", "route", "key"),
        Index("ix_idempotency_keys_expires_at", "expires_at"),  # for ``purge``
    )


# --- the store ---------------------------------------------------------------------------


class IdempotencyStore:
    """Claims, answers and releases keys, each in its own short transaction."""

    def __init__(self, db: Database, table: Table) -> None:
        self.db = db
        self.table = table

    async def claim(self, caller: str, route: str, key: str, fingerprint: str) -> Response | None:
        """None: the key is ours, run the request. A response: replay it. Else raise."""
        t = self.table
        now = func.now()
        values = {
            "caller": caller,
            "route": route,
            "key": key,
            "fingerprint": fingerprint,
            "status": None,
            "headers": None,
            "body": None,
            "created_at": now,
            "locked_until": now + literal(LEASE),
            "expires_at": now + literal(TTL),
        }
        new = insert(t).values(values)
        # An expired answer, or a claim whose holder died, is taken over in place.
        statement = new.on_conflict_do_update(
            index_elements=[t.c.caller, t.c.route, t.c.key],
            set_={name: new.excluded[name] for name in values if name not in _PK},
            where=or_(t.c.expires_at <= now, and_(t.c.status.is_(None), t.c.locked_until <= now)),
        ).returning(t.c.key)
        async with self.db.transaction() as session:
            if (await session.execute(statement)).first() is not None:
                return None
            row = (await session.execute(select(t).where(*self._is(caller, route, key)))).one()
        if row.fingerprint != fingerprint:
            raise GovitError(
                422,
                "idempotency_key_reused",
                f"this {HEADER} was first sent with another request; use a new key",
            )
        if row.status is None:
            raise GovitError(
                409,
                "idempotency_key_in_flight",
                f"a request with this {HEADER} is still running; retry when it has answered",
                headers={"Retry-After": "1"},
            )
        headers = {**row.headers, "Idempotent-Replayed": "true"}
        return Response(content=row.body, status_code=row.status, headers=headers)

    async def answer(self, caller: str, route: str, key: str, response: Response) -> None:
        headers = {h: response.headers[h] for h in _REPLAYED_HEADERS if h in response.headers}
        statement = (
            update(self.table)
            .where(*self._is(caller, route, key))
            .values(status=response.status_code, headers=headers, body=bytes(response.body))
        )
        async with self.db.transaction() as session:
            await session.execute(statement)

    async def release(self, caller: str, route: str, key: str) -> None:
        async with self.db.transaction() as session:
            await session.execute(delete(self.table).where(*self._is(caller, route, key)))

    async def purge(self) -> int:
        """Delete expired keys (a periodic job's work; expired keys are also reused)."""
        async with self.db.transaction() as session:
            result = await session.execute(
                delete(self.table).where(self.table.c.expires_at <= func.now())
            )
        return int(getattr(result, "rowcount", 0))

    def _is(self, caller: str, route: str, key: str) -> tuple[Any, ...]:
        t = self.table
        return (t.c.caller == caller, t.c.route == route, t.c.key == key)


class ExpiredKeysPurge(Periodic):
    """A worker deleting expired keys every ``every_seconds``.

    An expired key is taken over in place when its caller sends it again, but most
    keys never come back, and without this the table only grows. The first sweep
    comes one interval after start (a restart loop never hammers the table; a test's
    app, sharing one connection among its requests, never meets it). After a failed
    sweep, which ``/readyz`` reports, the next comes in ``retry_seconds``: a database
    outage must not leave a replica unready for the rest of the hour. Every replica
    may sweep: deleting rows already deleted changes nothing.
    """

    name = "idempotency-purge"
    wait_first = True

    def __init__(
        self, store: IdempotencyStore, every_seconds: float, *, retry_seconds: float = 30.0
    ) -> None:
        super().__init__(every_seconds, retry_seconds=retry_seconds)
        self.store = store

    async def tick(self) -> int:
        purged = await self.store.purge()
        if purged:
            log.info("purged expired idempotency keys", extra={"purged": purged})
        return purged


_PK = frozenset({"caller", "route", "key"})


def fingerprint(request: Request, body: bytes) -> str:
    """The same request: method, path, query and body (JSON compared as data)."""
    digest = hashlib.sha256()
    for part in (request.method, request.url.path, request.url.query):
        digest.update(part.encode() + b"\n")
    digest.update(_canonical(request, body))
    return digest.hexdigest()


def _canonical(request: Request, body: bytes) -> bytes:
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("application/json"):
        try:
            data = json.loads(body)
        except ValueError:
            return body  # the route refuses it anyway, and the key is released
        return json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
    boundary = _BOUNDARY.search(content_type)
    if content_type.startswith("multipart/form-data") and boundary:
        # Clients draw a new random boundary for every send: a retried upload of the
        # same file differs only there.
        return body.replace(boundary.group(1).strip('"').encode("latin-1"), b"-")
    return body


_BOUNDARY = re.compile(r"boundary=(\"[^\"]+\"|[^;\s]+)", re.IGNORECASE)


# --- FastAPI -------------------------------------------------------------------------------


def idempotent(table: Table) -> DependsParam:
    """``dependencies=[idempotent(table)]`` on a route of an ``IdempotentRoute`` router.

    The dependency itself only declares the header (OpenAPI, validation); the route
    class sees it among the route's dependencies and wraps the handler.
    """

    async def idempotency_key(
        key: str | None = Header(
            None,
            alias=HEADER,
            description="Send one per operation: a retry with the same key returns the "
            "first answer (422 if the body differs, 409 while the first is still running).",
            max_length=255,
        ),
    ) -> str | None:
        return key

    idempotency_key.idempotency_table = table  # type: ignore[attr-defined]
    marker: DependsParam = Depends(idempotency_key)
    return marker


class IdempotentRoute(APIRoute):
    """Routes carrying ``idempotent(table)`` replay their first answer per key."""

    def get_route_handler(self) -> Handler:
        handler = super().get_route_handler()
        table = next(
            (
                getattr(d.call, "idempotency_table", None)
                for d in self.dependant.dependencies
                if getattr(d.call, "idempotency_table", None) is not None
            ),
            None,
        )
        if table is None:
            return handler
        route = f"{','.join(sorted(self.methods or ()))} {self.path_format}"

        async def idempotent_handler(request: Request) -> Response:
            key = request.headers.get(HEADER)
            if key is None:
                return await handler(request)
            if not _KEY.match(key):
                raise GovitError(
                    422, "idempotency_key_invalid", f"{HEADER} is 1-255 visible ASCII characters"
                )
            caller = (await current_principal(request)).sub  # 401 before anything is stored
            store = IdempotencyStore(request.app.state.db, table)
            replay = await store.claim(
                caller, route, key, fingerprint(request, await request.body())
            )
            if replay is not None:
                return replay
            try:
                response = await _committed(handler, request)
            except BaseException:
                await store.release(caller, route, key)
                raise
            if 200 <= response.status_code < 300 and hasattr(response, "body"):
                await store.answer(caller, route, key, response)
            else:
                await store.release(caller, route, key)
            return response

        return idempotent_handler


# FastAPI closes a route's function-scoped dependencies (``DbSession``: the request's
# one commit point) only after the handler has returned, in an exit stack it keeps
# under this scope key. The handler gets a stack of its own here, closed before the
# answer is stored or the key released, so both follow the commit (or the rollback).
# tests/shared/test_idempotency.py fails if FastAPI ever changes this.
FUNCTION_STACK = "fastapi_function_astack"


async def _committed(handler: Handler, request: Request) -> Response:
    outer = request.scope.get(FUNCTION_STACK)
    try:
        async with AsyncExitStack() as stack:
            request.scope[FUNCTION_STACK] = stack
            return await handler(request)
    finally:
        request.scope[FUNCTION_STACK] = outer
