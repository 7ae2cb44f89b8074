"""The registry's use cases: load, apply ``domain``, write the new state and its events.

Every function flushes and never commits: the request's one commit point (see
``shared.app.DbSession``) commits the state, the revision and the outbox rows
together, or none of them.
"""

from __future__ import annotations

import json
import operator
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, insert, select
from sqlalchemy import text as sql_text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.registry import domain, views
from services.registry.models import (
    Resource,
    System,
    SystemRevision,
    Unit,
    events,
    publisher,
    system_revisions,
)
from services.registry.schemas import (
    ResourceCreate,
    SystemCreate,
    SystemFilters,
    UnitCreate,
)
from shared import pagination
from shared import revisions as trail
from shared.auth import HomeJurisdictions, Level, Principal, allows
from shared.auth.access import as_uuid
from shared.auth.access_sql import access_clause, readable
from shared.errors import GovitError, Violation, forbidden, not_found, rule_refusal
from shared.events import Event, emit, emit_many
from shared.events.outbox import NOTIFY_CHANNEL
from shared.ids import new_id
from shared.pagination import escape_like, keyset, next_page
from shared.policy import load_profile

SOURCE = publisher.source
MAX_PAGE = 500
# Runs a function off the event loop (``shared.spreadsheets.HeavyWork.run``).
Offload = Callable[..., Awaitable[Any]]
COPY_FROM = 100  # rows per batch from which a creation batch is COPYed, not INSERTed


def _event(
    type_: str, subject: uuid.UUID, data: dict[str, Any], now: datetime, validate: bool = True
) -> Event:
    return publisher.event(type_, subject, data, now, validate=validate)


# --- units --------------------------------------------------------------------------


async def register_unit(
    session: AsyncSession, principal: Principal, body: UnitCreate, now: datetime
) -> Unit:
    if not allows(principal, {"jurisdiction": body.jurisdiction}, domain.UNITS, Level.WRITE):
        raise GovitError(
            403,
            "jurisdiction_not_permitted",
            f"an admin registers units of its own jurisdiction ({principal.jurisdiction}) only",
        )
    if body.parent is not None:
        parent = await session.get(Unit, body.parent)
        if parent is None:
            raise GovitError(422, "parent_unknown", f"parent unit {body.parent} does not exist")
        if parent.jurisdiction != body.jurisdiction:
            raise GovitError(
                422, "parent_jurisdiction_differs", "a unit and its parent share a jurisdiction"
            )
    # The unique index of migration 0004 decides: of two concurrent registrations of
    # one name, the second waits for the first to commit and then inserts nothing.
    unit = await session.scalar(
        pg_insert(Unit)
        .values(
            id=new_id(),
            name=body.name,
            jurisdiction=body.jurisdiction,
            parent_id=body.parent,
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=[Unit.jurisdiction, Unit.name])
        .returning(Unit)
    )
    if unit is None:
        taken = select(Unit.id).where(
            Unit.jurisdiction == body.jurisdiction, Unit.name == body.name
        )
        existing = await session.scalar(taken)
        raise GovitError(
            409,
            "unit_name_taken",
            f"{body.jurisdiction} already has a unit named {body.name}: {existing}",
            extra={"existing_unit": str(existing)},
        )
    data = views.unit_payload(unit)
    await emit(session, events.outbox, _event("govit.registry.unit.registered", unit.id, data, now))
    return unit


async def get_unit(session: AsyncSession, principal: Principal, unit_id: uuid.UUID) -> Unit:
    unit = await session.scalar(readable(Unit, principal, domain.UNITS).where(Unit.id == unit_id))
    if unit is None:  # or not the caller's to read: the same answer
        raise not_found("unit", unit_id)
    return unit


async def list_units(
    session: AsyncSession, principal: Principal, jurisdiction: str | None
) -> Sequence[Unit]:
    """The directory of the caller's jurisdiction (asking for another one lists none)."""
    query = readable(Unit, principal, domain.UNITS).order_by(Unit.id)
    if jurisdiction:
        query = query.where(Unit.jurisdiction == jurisdiction)
    return (await session.scalars(query)).all()


# Tokens whose jurisdiction is not their unit's are refused (shared.auth.home).
_homes = HomeJurisdictions()


async def check_caller(session: AsyncSession, principal: Principal) -> None:
    """403 ``token_jurisdiction_mismatch`` when the token's unit lies elsewhere."""

    async def lookup(org: str) -> str | None:
        unit_id = as_uuid(org)
        if unit_id is None:
            return None
        jurisdiction: str | None = await session.scalar(
            select(Unit.jurisdiction).where(Unit.id == unit_id)
        )
        return jurisdiction

    await _homes.check(principal, lookup)


# --- systems ------------------------------------------------------------------------


async def register_system(
    session: AsyncSession, principal: Principal, body: SystemCreate, now: datetime
) -> System:
    unit = await _writable_unit(session, principal, body.org)
    _refuse(body.model_dump(include=set(domain.SYSTEM_FIELDS)), unit.jurisdiction)
    [system_id] = await _create_many(session, principal, [(body, unit)], now)
    system = await session.get(System, system_id)
    assert system is not None  # just inserted in this transaction
    return system


async def get_system(
    session: AsyncSession, principal: Principal, system_id: uuid.UUID, *, for_update: bool = False
) -> System:
    """The system if the caller may read it; else 404, as if it did not exist."""
    query = readable(System, principal, domain.SYSTEMS).where(System.id == system_id)
    if for_update:
        query = query.with_for_update().execution_options(populate_existing=True)
    system = await session.scalar(query)
    if system is None:
        raise not_found("system", system_id)
    return system


async def update_system(
    session: AsyncSession,
    principal: Principal,
    system_id: uuid.UUID,
    patch: Mapping[str, Any],
    now: datetime,
) -> System:
    system = await get_system(session, principal, system_id, for_update=True)
    if not domain.may_change(principal, system, patch):
        code, message, extra = domain.change_refusal(principal, patch)
        raise GovitError(403, code, message, extra=extra)
    await _apply(session, system, patch, principal, now)
    return system


async def _apply(
    session: AsyncSession,
    system: System,
    patch: Mapping[str, Any],
    principal: Principal,
    now: datetime,
) -> bool:
    """Apply a change to a loaded system; False when nothing actually changed."""
    before = views.entry(system)
    after = {**before, **patch}
    diff = domain.changes(before, after)
    if not diff:
        return False
    refusal = domain.lifecycle_refusal(system.status, after["status"])
    if refusal:
        raise GovitError(409, *refusal)
    _refuse(after, system.jurisdiction)
    for field in diff:
        setattr(system, field, after[field])
    await _changed(session, system, principal, diff, now)
    return True


async def _changed(
    session: AsyncSession,
    system: System,
    principal: Principal,
    diff: dict[str, Any],
    now: datetime,
) -> None:
    """Bump the version, keep the revision, publish the full new state."""
    system.version += 1
    system.updated_at = now
    await session.flush()
    await _record(session, system, principal, diff, now)
    data = views.system_payload(system, changed=diff)
    await emit(
        session, events.outbox, _event("govit.registry.system.updated", system.id, data, now)
    )


async def _record(
    session: AsyncSession,
    system: System,
    principal: Principal,
    diff: dict[str, Any],
    now: datetime,
) -> None:
    await trail.record(session, system_revisions, system.id, principal, diff, now)


def _revision(
    system_id: uuid.UUID, principal: Principal, diff: dict[str, Any], now: datetime
) -> dict[str, Any]:
    return trail.revision(system_revisions, system_id, principal, diff, now)


def _refuse(entry: Mapping[str, Any], jurisdiction: str) -> None:
    violations = domain.entry_violations(entry, load_profile(jurisdiction))
    if violations:
        raise rule_refusal(
            "catalogue_entry_refused",
            "the catalogue entry breaks the unit's regulation",
            violations,
        )


async def _writable_unit(session: AsyncSession, principal: Principal, org: uuid.UUID) -> Unit:
    # Refused before the lookup: whether another unit exists is not the caller's business.
    if not _may_catalogue(principal, org, None):
        raise forbidden("a unit catalogues its own systems only (token org differs)")
    unit = await session.get(Unit, org)
    if unit is None:
        raise GovitError(
            422, "unit_unknown", f"unit {org} is not in the unit directory; an admin adds it first"
        )
    if not _may_catalogue(principal, org, unit):
        raise GovitError(
            403,
            "jurisdiction_not_permitted",
            f"an admin catalogues for its own jurisdiction's ({principal.jurisdiction}) units only",
        )
    return unit


def _may_catalogue(principal: Principal, org: uuid.UUID, unit: Unit | None) -> bool:
    """May ``principal`` write systems of unit ``org`` (``unit``: the directory's entry,
    None while unknown, then judged as if in the caller's own jurisdiction)?"""
    jurisdiction = unit.jurisdiction if unit is not None else principal.jurisdiction
    record = {"org_id": org, "jurisdiction": jurisdiction}
    return allows(principal, record, domain.SYSTEMS, Level.WRITE)


# --- lists --------------------------------------------------------------------------


def filtered_systems(principal: Principal, filters: SystemFilters) -> Select[tuple[System]]:
    query = select(System).where(access_clause(principal, System, domain.SYSTEMS))
    for field in ("status", "cloud", "network", "sharing_connected"):
        value = getattr(filters, field)
        if value is not None:
            query = query.where(getattr(System, field) == value)
    if filters.org is not None:
        query = query.where(System.org_id == filters.org)
    if filters.q:
        query = query.where(System.name.ilike(f"%{_escape_like(filters.q)}%", escape="\\"))
    return query


_escape_like = escape_like
_PAGE_KEY = (System.id,)


def encode_cursor(last_id: uuid.UUID) -> str:
    return pagination.encode_cursor(last_id)


def decode_cursor(cursor: str) -> uuid.UUID:
    last_id: uuid.UUID = pagination.decode_cursor(cursor, [uuid.UUID])[0]
    return last_id


async def list_systems(
    session: AsyncSession,
    principal: Principal,
    filters: SystemFilters,
    limit: int,
    cursor: str | None,
) -> tuple[Sequence[Mapping[str, Any]], str | None]:
    """A keyset page ordered by id (UUIDv7, so new systems land on later pages)."""
    # Core rows, not ORM objects: each row is shaped once, by ``views.system_out``.
    query = filtered_systems(principal, filters).with_only_columns(*System.__table__.columns)
    query = keyset(query, _PAGE_KEY, limit, cursor)
    if filters.q:
        # A name search matches anything from every row to none. Once a pooled
        # connection has run this statement 5 times, PostgreSQL may switch it to a
        # generic plan that cannot see the pattern: a walk of the primary key with a
        # filter, fine for a common word, a scan of the whole table for a rare one.
        await session.execute(sql_text("SET LOCAL plan_cache_mode = force_custom_plan"))
    rows = (await session.execute(query)).mappings().all()
    return next_page(rows, limit, _PAGE_KEY)


# --- resources, history, compliance ----------------------------------------------------


async def add_resource(
    session: AsyncSession,
    principal: Principal,
    system_id: uuid.UUID,
    body: ResourceCreate,
    now: datetime,
) -> Resource:
    system = await get_system(session, principal, system_id, for_update=True)
    if not allows(principal, system, domain.SYSTEMS, Level.WRITE):
        raise forbidden("only the owning unit catalogues a system's resources")
    if system.status == "retired":
        raise GovitError(409, "system_retired", "a retired system is kept as history, unchanged")
    resource = Resource(id=new_id(), system_id=system.id, created_at=now, **body.model_dump())
    session.add(resource)
    before = {"resource_count": system.resource_count}
    system.resource_count += 1
    if resource.share_type != "none":
        system.shared_resource_count += 1
    diff = domain.changes(before, {"resource_count": system.resource_count})
    diff["resources"] = {"before": None, "after": {"id": str(resource.id), **body.model_dump()}}
    await _changed(session, system, principal, diff, now)
    return resource


async def list_resources(
    session: AsyncSession, principal: Principal, system_id: uuid.UUID
) -> Sequence[Resource]:
    await get_system(session, principal, system_id)
    query = select(Resource).where(Resource.system_id == system_id).order_by(Resource.id)
    return (await session.scalars(query)).all()


async def history(
    session: AsyncSession, principal: Principal, system_id: uuid.UUID
) -> Sequence[dict[str, Any]]:
    await get_system(session, principal, system_id)
    return await trail.trail(session, system_revisions, system_id)


async def compliance(
    session: AsyncSession, principal: Principal, system_id: uuid.UUID
) -> tuple[System, list[Violation]]:
    system = await get_system(session, principal, system_id)
    return system, domain.compliance(views.entry(system), load_profile(system.jurisdiction))


# --- bulk creation (one path for a single registration and a whole import) ----------


async def _create_many(
    session: AsyncSession,
    principal: Principal,
    creates: Sequence[tuple[SystemCreate, Unit]],
    now: datetime,
    batch: int = 5000,
    run: Offload | None = None,
) -> list[uuid.UUID]:
    """Batched INSERTs: a 100,000-row catalogue must not take 100,000 round trips.

    ``run`` builds each batch's rows off the event loop (an import passes its pool).
    """
    ids = []
    for start in range(0, len(creates), batch):
        chunk = creates[start : start + batch]
        if run is None:
            systems, revisions, registered = _creation_rows(principal, chunk, now)
        else:
            systems, revisions, registered = await run(_creation_rows, principal, chunk, now)
        if len(systems) < COPY_FROM:
            await session.execute(insert(System), systems)
            await session.execute(insert(SystemRevision), revisions)
            await emit_many(session, events.outbox, registered)
        else:
            await _copy_created(session, systems, revisions, registered, run)
        ids += [row["id"] for row in systems]
    return ids


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
            rows = [{**r, **{c: json.dumps(r[c]) for c in json_columns}} for r in rows]
        pick = operator.itemgetter(*columns)
        tables.append((name, columns, [pick(r) for r in rows]))
    outbox = [
        (uuid.UUID(e.id), e.type, e.subject, json.dumps(env)) for e, env in _envelopes(registered)
    ]
    tables.append((events.outbox.name, ["id", "type", "subject", "envelope"], outbox))
    return tables


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


def _creation_rows(
    principal: Principal, creates: Sequence[tuple[SystemCreate, Unit]], now: datetime
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[Event]]:
    """The systems rows, their first revisions and their registered events; no I/O."""
    systems, revisions, registered = [], [], []
    fields = set(domain.SYSTEM_FIELDS)
    for offset, (body, unit) in enumerate(creates):
        entry = body.model_dump(include=fields)
        row = {
            "id": new_id(),
            "org_id": unit.id,
            "jurisdiction": unit.jurisdiction,
            **entry,
            "resource_count": 0,
            "shared_resource_count": 0,
            "version": 1,
            "created_at": now,
            "updated_at": now,
        }
        systems.append(row)
        revisions.append(_revision(row["id"], principal, domain.changes(None, entry), now))
        # One code path builds every payload of the batch: checking the first
        # against the schema checks their shape (contract tests check them all).
        payload = views.system_payload(row)
        event = _event("govit.registry.system.registered", row["id"], payload, now, offset == 0)
        registered.append(event)
    return systems, revisions, registered
