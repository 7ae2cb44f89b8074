"""The registry's use cases: load, apply ``domain``, write the new state and its events.

Every function flushes and never commits: the request's one commit point (see
``shared.app.DbSession``) commits the state, the revision and the outbox rows
together, or none of them.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Select, insert, select
from sqlalchemy import text as sql_text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.registry import domain
from services.registry.models import Resource, System, SystemRevision, Unit, events
from services.registry.schemas import (
    ResourceCreate,
    SystemCreate,
    SystemFilters,
    UnitCreate,
)
from services.registry.spreadsheets import CellError, Row, import_refused, parse_bool
from shared import pagination
from shared.auth import HomeJurisdictions, Level, Principal, allows
from shared.auth.access import as_uuid
from shared.auth.access_sql import access_clause, readable
from shared.errors import GovitError, Violation, forbidden, not_found, rule_refusal
from shared.events import Event, emit, emit_many, new_event
from shared.ids import new_id
from shared.pagination import escape_like, keyset, next_page
from shared.policy import load_profile

SOURCE = "/govit/registry"
MAX_PAGE = 500


# --- views: one representation for responses and event payloads ---------------------


def row_of(system: System | Mapping[str, Any]) -> Mapping[str, Any]:
    """A ``systems`` row as a mapping: Core rows pass through, ORM objects are read once.

    Every shape below starts from a row, so a list reads Core rows and builds each
    answer once (no ORM object, no second dict, no response-model validation).
    """
    if isinstance(system, System):
        return {column.key: getattr(system, column.key) for column in _SYSTEM_COLUMNS}
    return system


def system_state(system: System | Mapping[str, Any]) -> dict[str, Any]:
    """The full current state, as ``govit.registry.system.*`` events carry it."""
    row = row_of(system)
    state: dict[str, Any] = {
        "id": str(row["id"]),
        "org": str(row["org_id"]),
        "jurisdiction": row["jurisdiction"],
    }
    for field in domain.SYSTEM_FIELDS:
        state[field] = row[field]
    state["resource_count"] = row["resource_count"]
    # ``Facts`` is a flat dataclass: its ``vars`` is the dict, without asdict's deep copy.
    state["facts"] = dict(vars(domain.facts(row)))
    state["version"] = row["version"]
    return state


def system_view(system: System | Mapping[str, Any]) -> dict[str, Any]:
    """``SystemOut``: the state with its timestamps."""
    row = row_of(system)
    view = system_state(row)
    view["created_at"] = row["created_at"]
    view["updated_at"] = row["updated_at"]
    return view


def entry_of(system: System | Mapping[str, Any]) -> dict[str, Any]:
    """The catalogue fields ``domain`` reasons about."""
    row = row_of(system)
    return {field: row[field] for field in _ENTRY_FIELDS}


# Older names for the same shapes, kept while their callers move to the names above.
state_of = system_state
system_entry = entry_of
_SYSTEM_COLUMNS = tuple(System.__table__.columns)
_ENTRY_FIELDS = (*domain.SYSTEM_FIELDS, "resource_count", "shared_resource_count")


def unit_view(unit: Unit) -> dict[str, Any]:
    return {
        "id": unit.id,
        "name": unit.name,
        "jurisdiction": unit.jurisdiction,
        "parent": unit.parent_id,
        "created_at": unit.created_at,
    }


def _event(
    type_: str, subject: uuid.UUID, data: dict[str, Any], now: datetime, validate: bool = True
) -> Event:
    return new_event(
        type_, source=SOURCE, subject=str(subject), data=data, time=now, validate=validate
    )


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
    data = {
        "id": str(unit.id),
        "name": unit.name,
        "jurisdiction": unit.jurisdiction,
        "parent": str(unit.parent_id) if unit.parent_id else None,
    }
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
    before = system_entry(system)
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
    data = {**system_state(system), "changed": sorted(diff)}
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
    await session.execute(insert(SystemRevision), [_revision(system.id, principal, diff, now)])


def _revision(
    system_id: uuid.UUID, principal: Principal, diff: dict[str, Any], now: datetime
) -> dict[str, Any]:
    return {
        "id": new_id(),
        "system_id": system_id,
        "at": now,
        "actor": principal.sub,
        "actor_org": principal.org,
        "changes": diff,
    }


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
    # Core rows, not ORM objects: each row is shaped once, by ``system_view``.
    query = filtered_systems(principal, filters).with_only_columns(*_SYSTEM_COLUMNS)
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
) -> Sequence[SystemRevision]:
    await get_system(session, principal, system_id)
    query = (
        select(SystemRevision)
        .where(SystemRevision.system_id == system_id)
        .order_by(SystemRevision.at, SystemRevision.id)
    )
    return (await session.scalars(query)).all()


async def compliance(
    session: AsyncSession, principal: Principal, system_id: uuid.UUID
) -> tuple[System, list[Violation]]:
    system = await get_system(session, principal, system_id)
    return system, domain.compliance(system_entry(system), load_profile(system.jurisdiction))


# --- bulk import and export ----------------------------------------------------------

_BOOL_COLUMNS = ("sharing_connected", "crypto_assessed", "asset_registered")


def _typed_cells(row: Row) -> tuple[dict[str, Any], list[CellError]]:
    """Cell text to JSON-like values; what cannot be read becomes a cell error."""
    values: dict[str, Any] = {}
    errors: list[CellError] = []
    for column, text in row.cells.items():
        try:
            if column in _BOOL_COLUMNS:
                values[column] = parse_bool(text)
            elif column == "mlps_level":
                values[column] = int(text) if text else None
            else:
                values[column] = text or None
        except ValueError as exc:
            message = "expected a whole number 1-5" if column == "mlps_level" else str(exc)
            errors.append(CellError(row.number, column, message))
    return values, errors


def _validated(row: Row) -> tuple[uuid.UUID | None, SystemCreate | None, list[CellError]]:
    values, errors = _typed_cells(row)
    system_id: uuid.UUID | None = None
    raw_id = values.pop("id", None)
    if raw_id:
        try:
            system_id = uuid.UUID(str(raw_id))
        except ValueError:
            errors.append(CellError(row.number, "id", "not a system id (UUID)"))
    bad_columns = {e.column for e in errors}
    try:
        body = SystemCreate.model_validate(
            {k: v for k, v in values.items() if k not in bad_columns}
        )
    except ValidationError as exc:
        for error in exc.errors():
            column = str(error["loc"][0]) if error["loc"] else ""
            if column not in bad_columns:
                errors.append(CellError(row.number, column, error["msg"]))
        return system_id, None, errors
    return system_id, (None if errors else body), errors


async def import_systems(
    session: AsyncSession, principal: Principal, rows: Sequence[Row], now: datetime
) -> dict[str, int]:
    """All rows or none: every row is checked before anything is written."""
    errors: list[CellError] = []
    parsed: list[tuple[Row, uuid.UUID | None, SystemCreate]] = []
    for row in rows:
        system_id, body, row_errors = _validated(row)
        errors += row_errors
        if body is not None:
            parsed.append((row, system_id, body))
    units = await _units(session, {body.org for _, _, body in parsed})
    existing = await _systems_for_update(session, {sid for _, sid, _ in parsed if sid})
    seen: set[uuid.UUID] = set()
    creates: list[tuple[SystemCreate, Unit]] = []
    updates: list[tuple[Row, SystemCreate, System]] = []
    for row, system_id, body in parsed:
        unit = units.get(body.org)
        if not _may_catalogue(principal, body.org, unit):
            errors.append(
                CellError(row.number, "org", "you may import your own unit's systems only")
            )
            continue
        if unit is None:
            errors.append(CellError(row.number, "org", "no such unit in the unit directory"))
            continue
        entry = body.model_dump(include=set(domain.SYSTEM_FIELDS))
        errors += [
            CellError(row.number, field, f"{v.rule}: {v.message_zh} / {v.message_en}")
            for field, v in domain.entry_problems(entry, load_profile(unit.jurisdiction))
        ]
        if system_id is None:
            creates.append((body, unit))
            continue
        system = existing.get(system_id)
        if system is None or system.org_id != body.org:
            errors.append(CellError(row.number, "id", "no such system in this unit's catalogue"))
        elif system_id in seen:
            errors.append(CellError(row.number, "id", "the same system appears twice"))
        elif refusal := _lifecycle_refusal(system, _row_patch(row, body)):
            errors.append(CellError(row.number, "status", refusal))
        else:
            updates.append((row, body, system))
        seen.add(system_id)
    if errors:
        raise import_refused(sorted(errors, key=lambda e: (e.row, e.column)))
    await _create_many(session, principal, creates, now)
    changed = 0
    for row, body, system in updates:
        changed += await _apply(session, system, _row_patch(row, body), principal, now)
    return {
        "imported": len(creates) + len(updates),
        "created": len(creates),
        "updated": changed,
        "unchanged": len(updates) - changed,
    }


def _row_patch(row: Row, body: SystemCreate) -> dict[str, Any]:
    """A row updates the columns the file has, and only those."""
    return body.model_dump(include=set(domain.SYSTEM_FIELDS) & set(row.cells))


def _lifecycle_refusal(system: System, patch: Mapping[str, Any]) -> str | None:
    """What ``_apply`` would refuse for this row, found before anything is written."""
    before = system_entry(system)
    after = {**before, **patch}
    if not domain.changes(before, after):
        return None
    refusal = domain.lifecycle_refusal(system.status, after["status"])
    return refusal[1] if refusal else None


async def _units(session: AsyncSession, ids: set[uuid.UUID]) -> dict[uuid.UUID, Unit]:
    if not ids:
        return {}
    found = await session.scalars(select(Unit).where(Unit.id.in_(ids)))
    return {unit.id: unit for unit in found}


async def _systems_for_update(
    session: AsyncSession, ids: set[uuid.UUID]
) -> dict[uuid.UUID, System]:
    if not ids:
        return {}
    query = select(System).where(System.id.in_(ids)).with_for_update()
    return {system.id: system for system in await session.scalars(query)}


async def _create_many(
    session: AsyncSession,
    principal: Principal,
    creates: Sequence[tuple[SystemCreate, Unit]],
    now: datetime,
    batch: int = 5000,
) -> list[uuid.UUID]:
    """Batched INSERTs: a 100,000-row catalogue must not take 100,000 round trips."""
    ids = []
    for start in range(0, len(creates), batch):
        systems, revisions, registered = [], [], []
        for offset, (body, unit) in enumerate(creates[start : start + batch]):
            entry = body.model_dump(include=set(domain.SYSTEM_FIELDS))
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
            event = _event(
                "govit.registry.system.registered", row["id"], state_of(row), now, offset == 0
            )
            registered.append(event)
        await session.execute(insert(System), systems)
        await session.execute(insert(SystemRevision), revisions)
        await emit_many(session, events.outbox, registered)
        ids += [row["id"] for row in systems]
    return ids


async def export_rows(
    session: AsyncSession, principal: Principal, filters: SystemFilters
) -> list[dict[str, Any]]:
    query = filtered_systems(principal, filters).order_by(System.id)
    return [
        {"id": system.id, "org": system.org_id, **system_entry(system)}
        for system in await session.scalars(query)
    ]
