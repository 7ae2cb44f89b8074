"""The registry's queries: every SELECT, INSERT and COPY the use cases run.

Plain functions that take the request's session, not a ``Repository`` object: the
session is already the unit of work (one per request, one commit point in
``shared.app.DbSession``) and every use case receives it, so an object would only
hold it and offer a second way to reach it. Functions compose with the kit's
query builders (``readable``, ``keyset``) and a test can call one with any session.

Nothing here decides: who may read is the kit's access clause, what may change is
``domain``'s; a query returns rows (or ORM objects when a use case changes them)
and never raises an HTTP error.
"""

from __future__ import annotations

import json
import operator
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    Table,
    and_,
    bindparam,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.registry import domain
from services.registry.models import (
    Import,
    Resource,
    System,
    SystemRevision,
    Unit,
    events,
    publisher,
    system_revisions,
)
from services.registry.schemas import SystemFilters
from shared import pagination
from shared import revisions as trail
from shared.auth import Principal
from shared.auth.access import Condition, Level, condition
from shared.auth.access_sql import CLAUSES_KEPT, access_clause, readable, readable_one, to_sql
from shared.db.fast import fetch
from shared.db.session import custom_plans
from shared.events import Event
from shared.events.outbox import NOTIFY_CHANNEL

# Runs a function off the event loop (``shared.spreadsheets.HeavyWork.run``).
Offload = Callable[..., Awaitable[Any]]
COPY_FROM = 100  # rows per batch from which a creation batch is COPYed, not INSERTed
_SYSTEM_COLUMNS = tuple(System.__table__.columns)
# SQLAlchemy's stubs do not type an ORM attribute as a ColumnElement, though it serves
# as one here (``order_by`` takes it, ``next_page`` reads its ``key``).
_PAGE_KEY = cast(pagination.Key, (System.id,))


# --- units --------------------------------------------------------------------------


async def unit(session: AsyncSession, unit_id: uuid.UUID) -> Unit | None:
    return await session.get(Unit, unit_id)


async def units(session: AsyncSession, ids: set[uuid.UUID]) -> dict[uuid.UUID, Unit]:
    if not ids:
        return {}
    found = await session.scalars(select(Unit).where(Unit.id.in_(ids)))
    return {unit.id: unit for unit in found}


async def readable_unit(
    session: AsyncSession, principal: Principal, unit_id: uuid.UUID
) -> Unit | None:
    """The unit, or None when it does not exist or is not the caller's to read."""
    return await readable_one(session, Unit, principal, domain.UNITS, unit_id)


async def readable_units(
    session: AsyncSession, principal: Principal, jurisdiction: str | None
) -> Sequence[Unit]:
    query = readable(Unit, principal, domain.UNITS).order_by(Unit.id)
    if jurisdiction:
        query = query.where(Unit.jurisdiction == jurisdiction)
    return (await session.scalars(query)).all()


async def unit_jurisdiction(session: AsyncSession, unit_id: uuid.UUID) -> str | None:
    jurisdiction: str | None = await session.scalar(
        select(Unit.jurisdiction).where(Unit.id == unit_id)
    )
    return jurisdiction


async def insert_unit(session: AsyncSession, values: Mapping[str, Any]) -> Unit | None:
    """The new unit, or None when its jurisdiction already has one of that name.

    The unique index of migration 0004 decides: of two concurrent registrations of
    one name, the second waits for the first to commit and then inserts nothing.
    """
    unit: Unit | None = await session.scalar(
        pg_insert(Unit)
        .values(**values)
        .on_conflict_do_nothing(index_elements=[Unit.jurisdiction, Unit.name])
        .returning(Unit)
    )
    return unit


async def unit_named(session: AsyncSession, jurisdiction: str, name: str) -> uuid.UUID | None:
    query = select(Unit.id).where(Unit.jurisdiction == jurisdiction, Unit.name == name)
    found: uuid.UUID | None = await session.scalar(query)
    return found


# --- systems ------------------------------------------------------------------------


async def readable_system(
    session: AsyncSession, principal: Principal, system_id: uuid.UUID, *, for_update: bool = False
) -> System | None:
    """The system, or None when it does not exist or is not the caller's to read."""
    return await readable_one(
        session, System, principal, domain.SYSTEMS, system_id, for_update=for_update
    )


async def system(session: AsyncSession, system_id: uuid.UUID) -> System | None:
    return await session.get(System, system_id)


async def systems_for_update(session: AsyncSession, ids: set[uuid.UUID]) -> dict[uuid.UUID, System]:
    if not ids:
        return {}
    query = select(System).where(System.id.in_(ids)).with_for_update()
    return {system.id: system for system in await session.scalars(query)}


def filtered_systems(principal: Principal, filters: SystemFilters) -> Select[System]:
    """The systems the caller may read that match the list filters (the export's; the
    list page runs the same conditions, ``_page_statement``)."""
    present, values = _filter_values(filters)
    query = select(System).where(
        access_clause(principal, System, domain.SYSTEMS), *_filter_conditions(present)
    )
    return query.params(values)


# The list filters: each a column compared with a bindparam of the filter's name, and
# ``q``, a name search (``pattern``). One definition for the page and the export.
_FILTERS = ("org", "status", "cloud", "network", "sharing_connected")
_FILTER_COLUMNS = {"org": System.org_id} | {f: getattr(System, f) for f in _FILTERS[1:]}


def _filter_values(filters: SystemFilters) -> tuple[tuple[str, ...], dict[str, Any]]:
    """The filters set (a name search is ``q``) and the values of their bindparams."""
    present = tuple(f for f in _FILTERS if getattr(filters, f) is not None)
    values: dict[str, Any] = {f: getattr(filters, f) for f in present}
    if filters.q:
        present += ("q",)
        values["pattern"] = f"%{pagination.escape_like(filters.q)}%"
    return present, values


def _filter_conditions(present: tuple[str, ...]) -> list[ColumnElement[bool]]:
    return [
        System.name.ilike(bindparam("pattern"), escape="\\")
        if field == "q"
        else _FILTER_COLUMNS[field] == bindparam(field)
        for field in present
    ]


def encode_cursor(last_id: uuid.UUID) -> str:
    return pagination.encode_cursor(last_id)


def decode_cursor(cursor: str) -> uuid.UUID:
    last_id: uuid.UUID = pagination.decode_cursor(cursor, [uuid.UUID])[0]
    return last_id


async def system_page(
    session: AsyncSession,
    principal: Principal,
    filters: SystemFilters,
    limit: int,
    cursor: str | None,
) -> tuple[Sequence[Mapping[str, Any]], str | None]:
    """A keyset page ordered by id (UUIDv7, so new systems land on later pages).

    The fast read path (docs/services.md): the statement is built once per shape
    (``_page_statement``) and run by asyncpg with this request's values only; its
    rows (asyncpg ``Record``s, read-only mappings) are shaped once, by
    ``views.system_out``.
    """
    present, params = _filter_values(filters)
    statement = _page_statement(condition(principal, domain.SYSTEMS), present, cursor is not None)
    params["limit"] = limit + 1  # the extra row only says whether a next page exists
    if cursor is not None:
        params["after"] = decode_cursor(cursor)
    # A name search matches anything from every row to none. Once a pooled
    # connection has run this statement 5 times, PostgreSQL may switch it to a
    # generic plan that cannot see the pattern: a walk of the primary key with a
    # filter, fine for a common word, a scan of the whole table for a rare one.
    async with custom_plans(session, when=bool(filters.q)):
        rows = await fetch(session, statement, params)
    page = cast(Sequence[Mapping[str, Any]], rows)  # Records read as mappings
    return pagination.next_page(page, limit, _PAGE_KEY)


@lru_cache(maxsize=CLAUSES_KEPT)
def _page_statement(readable_by: Condition, present: tuple[str, ...], after: bool) -> Select[Any]:
    """The page's SELECT for one shape: who reads (the access condition, its values
    bound as literals), which filters are set, a cursor; every value of the request a
    ``bindparam`` (``fetch`` fills them)."""
    query = select(*_SYSTEM_COLUMNS).where(
        to_sql(readable_by, System), *_filter_conditions(present)
    )
    if after:
        query = query.where(System.id > bindparam("after"))
    return query.order_by(*_PAGE_KEY).limit(bindparam("limit", type_=Integer))


async def saved(
    session: AsyncSession,
    system: System,
    principal: Principal,
    diff: Mapping[str, Any],
    now: datetime,
) -> None:
    """Write a changed system (its ORM object) and the revision that says why."""
    await session.flush()
    await trail.record(session, system_revisions, system.id, principal, dict(diff), now)


def revision(
    system_id: uuid.UUID, principal: Principal, diff: dict[str, Any], now: datetime
) -> dict[str, Any]:
    """A ``system_revisions`` row, for ``insert_created``."""
    return trail.revision(system_revisions, system_id, principal, diff, now)


async def history(session: AsyncSession, system_id: uuid.UUID) -> Sequence[dict[str, Any]]:
    return await trail.trail(session, system_revisions, system_id)


# --- resources ----------------------------------------------------------------------


async def insert_resource(session: AsyncSession, resource: Resource) -> None:
    session.add(resource)


async def resources(session: AsyncSession, system_id: uuid.UUID) -> Sequence[Resource]:
    query = select(Resource).where(Resource.system_id == system_id).order_by(Resource.id)
    return (await session.scalars(query)).all()


# --- bulk creation (a single registration and a whole import) --------------------------


async def insert_created(
    session: AsyncSession,
    systems: Sequence[Mapping[str, Any]],
    revisions: Sequence[Mapping[str, Any]],
    registered: Sequence[Event],
    run: Offload | None = None,
) -> None:
    """A batch of new systems, their first revisions and their events, in the request's
    transaction: INSERTs for a few, COPY for many (``run`` builds records off the loop)."""
    if len(systems) < COPY_FROM:
        await session.execute(insert(System), systems)
        await session.execute(insert(SystemRevision), revisions)
        await publisher.publish_many(session, registered)
    else:
        await _copy_created(session, systems, revisions, registered, run)


async def _copy_created(
    session: AsyncSession,
    systems: Sequence[Mapping[str, Any]],
    revisions: Sequence[Mapping[str, Any]],
    registered: Sequence[Event],
    run: Offload | None,
) -> None:
    """A big batch goes in by COPY (asyncpg's binary ``copy_records_to_table``), in the
    request's transaction: one round trip per table instead of SQLAlchemy building and
    sending multi-row INSERTs, which cost more than everything else of an import."""
    await session.execute(select(1))  # the transaction has begun on this connection
    raw = (await (await session.connection()).get_raw_connection()).driver_connection
    assert raw is not None  # a checked-out connection has its asyncpg connection
    args = (systems, revisions, registered)
    tables = await run(_copy_records, *args) if run else _copy_records(*args)
    for name, columns, records in tables:
        await raw.copy_records_to_table(name, records=records, columns=columns)
    await session.execute(select(func.pg_notify(NOTIFY_CHANNEL, registered[0].type)))


def _copy_records(
    systems: Sequence[Mapping[str, Any]],
    revisions: Sequence[Mapping[str, Any]],
    registered: Sequence[Event],
) -> list[tuple[str, list[str], list[tuple[Any, ...]]]]:
    """(table, columns, records) for each table a creation batch writes; no I/O."""
    tables = []
    for name, rows in (("systems", systems), (SystemRevision.__table__.name, revisions)):
        columns = list(rows[0])
        # JSONB goes to asyncpg as JSON text (the codec SQLAlchemy installs takes a str).
        json_columns = {c for c, v in rows[0].items() if isinstance(v, dict | list)}
        if json_columns:
            rows = [{**r, **{c: _json(r[c]) for c in json_columns}} for r in rows]
        pick = operator.itemgetter(*columns)
        tables.append((name, columns, [pick(r) for r in rows]))
    outbox = [(uuid.UUID(e.id), e.type, e.subject, _json(env)) for e, env in _envelopes(registered)]
    tables.append((events.outbox.name, ["id", "type", "subject", "envelope"], outbox))
    return tables


def _json(value: Any) -> str:
    # Compact, and CJK as itself rather than as escapes: a third less to encode
    # and to send; PostgreSQL stores the same jsonb either way.
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _envelopes(registered: Sequence[Event]) -> Iterator[tuple[Event, dict[str, Any]]]:
    """Each event's envelope, the SDK's first one reused as a template for the rest.

    Building 100,000 envelopes through the CloudEvents SDK (serialise, parse back) was
    the largest single cost of an import. A batch's events differ only in ``id``,
    ``subject`` and ``data`` (one type, one time, one request), so the first envelope
    is built by the SDK, the second is checked against the SDK too, and the rest are
    the template with those three fields.
    """
    template = registered[0].envelope()
    for index, event in enumerate(registered):
        envelope = {**template, "id": event.id, "subject": event.subject, "data": event.data}
        if index == 1 and envelope != event.envelope():
            raise RuntimeError("a batch's envelopes differ beyond id, subject and data")
        yield event, envelope


# --- background imports -------------------------------------------------------------------

_IMPORTS = cast(Table, Import.__table__)
# Everything but the file (up to 20 MiB): what an answer shows.
_IMPORT_OUT = tuple(c for c in _IMPORTS.c if c.key != "file")


async def insert_import(session: AsyncSession, values: Mapping[str, Any]) -> Mapping[str, Any]:
    statement = insert(_IMPORTS).values(**values).returning(*_IMPORT_OUT)
    return cast(Mapping[str, Any], (await session.execute(statement)).mappings().one())


async def readable_import(
    session: AsyncSession, principal: Principal, import_id: uuid.UUID
) -> Mapping[str, Any] | None:
    """The import, or None when it does not exist or is not the caller's to read: its
    unit's, or its jurisdiction's admin's (``domain.IMPORTS`` at the write level)."""
    allowed = access_clause(principal, _IMPORTS, domain.IMPORTS, Level.WRITE)
    query = select(*_IMPORT_OUT).where(allowed, _IMPORTS.c.id == import_id)
    return cast(Mapping[str, Any] | None, (await session.execute(query)).mappings().first())


async def next_import(session: AsyncSession, now: datetime) -> Mapping[str, Any] | None:
    """The oldest import waiting for a worker, locked: queued, or running past its lease
    (its replica died). A row another worker holds locked is skipped (SKIP LOCKED), and
    a worker holds its import locked for as long as it runs it."""
    t = _IMPORTS
    waiting = or_(t.c.state == "queued", and_(t.c.state == "running", t.c.lease_until <= now))
    query = (
        select(t.c.id, t.c.attempts)
        .where(waiting)
        .order_by(t.c.created_at, t.c.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    return cast(Mapping[str, Any] | None, (await session.execute(query)).mappings().first())


async def wait_for_locks_at_most(session: AsyncSession, seconds: float) -> None:
    """For the rest of the transaction, a row lock held elsewhere is waited for at most
    ``seconds``; past that the statement fails (PostgreSQL's ``lock_timeout``)."""
    timeout = f"{max(1, round(seconds * 1000))}ms"
    await session.execute(select(func.set_config("lock_timeout", timeout, True)))


async def claimed_import(
    session: AsyncSession, import_id: uuid.UUID, claim: uuid.UUID
) -> Mapping[str, Any] | None:
    """The running import with its file, locked to the end of the transaction; None when
    it is no longer this claim's (another worker took it over)."""
    t = _IMPORTS
    query = (
        select(t)
        .where(t.c.id == import_id, t.c.claim == claim, t.c.state == "running")
        .with_for_update()
    )
    return cast(Mapping[str, Any] | None, (await session.execute(query)).mappings().first())


async def set_import(
    session: AsyncSession, import_id: uuid.UUID, values: Mapping[str, Any]
) -> None:
    await session.execute(update(_IMPORTS).where(_IMPORTS.c.id == import_id).values(**values))
