"""The registry's use cases: load, ask ``domain``, write, emit.

Each reads top to bottom in those four steps: ``repository`` loads and writes,
``domain`` decides (a refusal is raised through ``errors``), ``views`` shapes the
event's payload and ``publisher`` writes it to the outbox. Every function flushes
and never commits: the request's one commit point (``shared.app.DbSession``)
commits the state, the revision and the outbox rows together, or none of them.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy.ext.asyncio import AsyncSession

from services.registry import domain, errors, repository, views
from services.registry.models import Resource, System, Unit, publisher
from services.registry.repository import Offload
from services.registry.schemas import ResourceCreate, SystemCreate, SystemFilters, UnitCreate
from shared.auth import Level, Principal, allows, caller_check
from shared.errors import Violation
from shared.events import Event
from shared.ids import new_id
from shared.policy import load_profile

MAX_PAGE = 500
CREATE_BATCH = 5000  # systems per INSERT/COPY batch of a bulk creation


# --- units --------------------------------------------------------------------------


async def register_unit(
    session: AsyncSession, principal: Principal, body: UnitCreate, now: datetime
) -> Unit:
    if not allows(principal, {"jurisdiction": body.jurisdiction}, domain.UNITS, Level.WRITE):
        raise errors.JURISDICTION_NOT_PERMITTED.error(
            f"an admin registers units of its own jurisdiction ({principal.jurisdiction}) only"
        )
    if body.parent is not None:
        await _check_parent(session, body.parent, body.jurisdiction)
    values = {"name": body.name, "jurisdiction": body.jurisdiction, "parent_id": body.parent}
    unit = await repository.insert_unit(session, {"id": new_id(), **values, "created_at": now})
    if unit is None:
        existing = await repository.unit_named(session, body.jurisdiction, body.name)
        raise errors.unit_name_taken(body.jurisdiction, body.name, existing)
    data = views.unit_payload(unit)
    await publisher.publish(session, "govit.registry.unit.registered", unit.id, data, now)
    return unit


async def _check_parent(session: AsyncSession, parent_id: uuid.UUID, jurisdiction: str) -> None:
    parent = await repository.unit(session, parent_id)
    if parent is None:
        raise errors.PARENT_UNKNOWN.error(f"parent unit {parent_id} does not exist")
    if parent.jurisdiction != jurisdiction:
        raise errors.PARENT_JURISDICTION_DIFFERS.error("a unit and its parent share a jurisdiction")


async def get_unit(session: AsyncSession, principal: Principal, unit_id: uuid.UUID) -> Unit:
    unit = await repository.readable_unit(session, principal, unit_id)
    if unit is None:  # or not the caller's to read: the same answer
        raise errors.not_found("unit", unit_id)
    return unit


async def list_units(
    session: AsyncSession, principal: Principal, jurisdiction: str | None
) -> Sequence[Unit]:
    """The directory of the caller's jurisdiction (asking for another one lists none)."""
    return await repository.readable_units(session, principal, jurisdiction)


# Tokens whose jurisdiction is not their unit's are refused (shared.auth.home).
# 403 ``token_jurisdiction_mismatch`` when the token's unit lies elsewhere (shared.auth.home).
check_caller = caller_check(repository.unit_jurisdiction)


# --- systems ------------------------------------------------------------------------


async def register_system(
    session: AsyncSession, principal: Principal, body: SystemCreate, now: datetime
) -> System:
    unit = await _writable_unit(session, principal, body.org)
    _refuse(body.model_dump(include=set(domain.SYSTEM_FIELDS)), unit.jurisdiction)
    [system_id] = await create_systems(session, principal, [(body, unit)], now)
    system = await repository.system(session, system_id)
    assert system is not None  # just inserted in this transaction
    return system


async def get_system(
    session: AsyncSession, principal: Principal, system_id: uuid.UUID, *, for_update: bool = False
) -> System:
    """The system if the caller may read it; else 404, as if it did not exist."""
    system = await repository.readable_system(session, principal, system_id, for_update=for_update)
    if system is None:
        raise errors.not_found("system", system_id)
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
        raise errors.change_refused(*domain.change_refusal(principal, patch))
    await apply_change(session, system, patch, principal, now)
    return system


async def apply_change(
    session: AsyncSession,
    system: System,
    patch: Mapping[str, Any],
    principal: Principal,
    now: datetime,
) -> bool:
    """Apply a change to a loaded system (a PATCH, an import's row); False when nothing
    actually changed."""
    before = views.entry(system)
    after = {**before, **patch}
    diff = domain.changes(before, after)
    if not diff:
        return False
    current = cast(domain.Status, system.status)  # the column's CHECK constraint
    if violation := domain.lifecycle_violation(current, after["status"]):
        raise errors.lifecycle_refused(system.status, violation)
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
    await repository.saved(session, system, principal, diff, now)
    data = views.system_payload(system, changed=diff)
    await publisher.publish(session, "govit.registry.system.updated", system.id, data, now)


def _refuse(entry: Mapping[str, Any], jurisdiction: str) -> None:
    violations = domain.entry_violations(entry, load_profile(jurisdiction))
    if violations:
        raise errors.catalogue_entry_refused(violations)


async def _writable_unit(session: AsyncSession, principal: Principal, org: uuid.UUID) -> Unit:
    # Refused before the lookup: whether another unit exists is not the caller's business.
    if not may_catalogue(principal, org, None):
        raise errors.FORBIDDEN.error("a unit catalogues its own systems only (token org differs)")
    unit = await repository.unit(session, org)
    if unit is None:
        raise errors.UNIT_UNKNOWN.error(
            f"unit {org} is not in the unit directory; an admin adds it first"
        )
    if not may_catalogue(principal, org, unit):
        raise errors.JURISDICTION_NOT_PERMITTED.error(
            f"an admin catalogues for its own jurisdiction's ({principal.jurisdiction}) units only"
        )
    return unit


def may_catalogue(principal: Principal, org: uuid.UUID, unit: Unit | None) -> bool:
    """May ``principal`` write systems of unit ``org`` (``unit``: the directory's entry,
    None while unknown, then judged as if in the caller's own jurisdiction)?"""
    jurisdiction = unit.jurisdiction if unit is not None else principal.jurisdiction
    record = {"org_id": org, "jurisdiction": jurisdiction}
    return allows(principal, record, domain.SYSTEMS, Level.WRITE)


async def list_systems(
    session: AsyncSession,
    principal: Principal,
    filters: SystemFilters,
    limit: int,
    cursor: str | None,
) -> tuple[Sequence[Mapping[str, Any]], str | None]:
    """A keyset page of the systems the caller may read (rows; ``views.system_out``)."""
    return await repository.system_page(session, principal, filters, limit, cursor)


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
        raise errors.FORBIDDEN.error("only the owning unit catalogues a system's resources")
    status = cast(domain.Status, system.status)  # the column's CHECK constraint
    if violation := domain.lifecycle_violation(status, status):
        raise errors.lifecycle_refused(system.status, violation)
    resource = Resource(id=new_id(), system_id=system.id, created_at=now, **body.model_dump())
    await repository.insert_resource(session, resource)
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
    return await repository.resources(session, system_id)


async def history(
    session: AsyncSession, principal: Principal, system_id: uuid.UUID
) -> Sequence[dict[str, Any]]:
    await get_system(session, principal, system_id)
    return await repository.history(session, system_id)


async def compliance(
    session: AsyncSession, principal: Principal, system_id: uuid.UUID
) -> tuple[System, list[Violation]]:
    system = await get_system(session, principal, system_id)
    return system, domain.compliance(views.entry(system), load_profile(system.jurisdiction))


# --- bulk creation (one path for a single registration and a whole import) ----------


async def create_systems(
    session: AsyncSession,
    principal: Principal,
    creates: Sequence[tuple[SystemCreate, Unit]],
    now: datetime,
    run: Offload | None = None,
) -> list[uuid.UUID]:
    """Batched writes: a 100,000-row catalogue must not take 100,000 round trips.

    ``run`` builds each batch's rows off the event loop (an import passes its pool).
    """
    ids = []
    chunks = [creates[i : i + CREATE_BATCH] for i in range(0, len(creates), CREATE_BATCH)]
    if run is None:
        for chunk in chunks:
            systems, revisions, registered = _creation_rows(principal, chunk, now)
            await repository.insert_created(session, systems, revisions, registered)
            ids += [row["id"] for row in systems]
        return ids
    if not chunks:
        return ids
    # Pipelined: the pool builds batch n+1 while PostgreSQL stores batch n (the two
    # take about as long each, on different cores).
    ahead = asyncio.ensure_future(run(_creation_rows, principal, chunks[0], now))
    for n in range(len(chunks)):
        systems, revisions, registered = await ahead
        if n + 1 < len(chunks):
            ahead = asyncio.ensure_future(run(_creation_rows, principal, chunks[n + 1], now))
        try:
            await repository.insert_created(session, systems, revisions, registered, run)
        except BaseException:
            ahead.cancel()
            raise
        ids += [row["id"] for row in systems]
    return ids


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
        first = domain.changes(None, entry)
        revisions.append(repository.revision(row["id"], principal, first, now))
        # One code path builds every payload of the batch: checking the first
        # against the schema checks their shape (contract tests check them all).
        payload = views.system_payload(row)
        registered.append(
            publisher.event(
                "govit.registry.system.registered", row["id"], payload, now, validate=offset == 0
            )
        )
    return systems, revisions, registered
