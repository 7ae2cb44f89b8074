"""Approval's queries: plain functions of the request's (or the event's) session.

Nothing here decides: who may read is the kit's access clause, what may change is
``domain``'s; a query returns rows or ORM objects and never raises an HTTP error.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Integer,
    RowMapping,
    Select,
    and_,
    bindparam,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.approval import domain, views
from services.approval.models import (
    Change,
    Material,
    Opinion,
    Project,
    Review,
    catalogued_systems,
    known_units,
    project_history,
    project_numbers,
    publisher,
    rectification_orders,
    unit_assessments,
    unit_sanctions,
)
from services.approval.schemas import ProjectFilters
from shared import pagination
from shared.auth import Principal, access
from shared.auth.access_sql import CLAUSES_KEPT, access_clause, readable_one, to_sql
from shared.db.fast import fetch, fetchable
from shared.ids import new_id

_PROJECT_COLUMNS = tuple(Project.__table__.columns)
_PAGE_COLUMNS = fetchable(*_PROJECT_COLUMNS)  # the page read by asyncpg (`fetch`)
# SQLAlchemy's stubs do not type an ORM attribute as a ColumnElement, though it serves
# as one here (``order_by`` takes it, ``next_page`` reads its ``key``).
_PAGE_KEY = cast(pagination.Key, (Project.id,))


# --- the projections -------------------------------------------------------------------


async def units(session: AsyncSession, ids: set[uuid.UUID]) -> dict[uuid.UUID, RowMapping]:
    if not ids:
        return {}
    rows = await session.execute(select(known_units).where(known_units.c.id.in_(ids)))
    return {row["id"]: row for row in rows.mappings()}


async def unit_jurisdiction(session: AsyncSession, unit_id: uuid.UUID) -> str | None:
    found: str | None = await session.scalar(
        select(known_units.c.jurisdiction).where(known_units.c.id == unit_id)
    )
    return found


async def systems(
    session: AsyncSession, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, domain.SystemFacts]:
    if not ids:
        return {}
    t = catalogued_systems
    rows = await session.execute(select(t).where(t.c.id.in_(set(ids))))
    return {
        row["id"]: domain.SystemFacts(
            id=row["id"],
            org=row["org"],
            jurisdiction=row["jurisdiction"],
            status=row["status"],
            resource_count=row["resource_count"],
            catalogued=bool((row["facts"] or {}).get("catalogued")),
            data_shared=bool((row["facts"] or {}).get("data_shared")),
        )
        for row in rows.mappings()
    }


async def sanctions(session: AsyncSession, org: uuid.UUID) -> list[domain.SanctionFact]:
    t = unit_sanctions
    rows = await session.execute(select(t).where(t.c.org == org, t.c.active.is_(True)))
    return [
        domain.SanctionFact(r["trigger"], r["rule"], r["from_year"], r["until_year"])
        for r in rows.mappings()
    ]


async def impose_sanction(session: AsyncSession, values: Mapping[str, Any]) -> None:
    """One sanction per imposing record (its id): a redelivery changes nothing."""
    insert_ = pg_insert(unit_sanctions).values(**values)
    await session.execute(
        insert_.on_conflict_do_update(
            index_elements=[unit_sanctions.c.id], set_={"active": insert_.excluded.active}
        )
    )


async def lift_sanctions(
    session: AsyncSession,
    *,
    ids: Sequence[uuid.UUID] = (),
    project_id: uuid.UUID | None = None,
    trigger: str | None = None,
) -> None:
    t = unit_sanctions
    conditions: list[ColumnElement[bool]] = []
    if ids:
        conditions.append(t.c.id.in_(ids))
    if project_id is not None and trigger is not None:
        conditions.append(and_(t.c.project_id == project_id, t.c.trigger == trigger))
    for condition in conditions:
        await session.execute(update(t).where(condition).values(active=False))


async def latest_assessment(session: AsyncSession, org: uuid.UUID) -> Mapping[str, Any] | None:
    t = unit_assessments
    row = (
        (
            await session.execute(
                select(t)
                .where(t.c.org == org)
                .order_by(t.c.year.desc(), t.c.version.desc())
                .limit(1)
            )
        )
        .mappings()
        .first()
    )
    return cast(Mapping[str, Any] | None, row)  # a RowMapping, read by column name


async def orders_of(session: AsyncSession, project_id: uuid.UUID) -> list[RowMapping]:
    t = rectification_orders
    rows = await session.execute(select(t).where(t.c.project_id == project_id))
    return list(rows.mappings())


# --- projects ---------------------------------------------------------------------------


async def readable_project(
    session: AsyncSession, principal: Principal, project_id: uuid.UUID, *, for_update: bool = False
) -> Project | None:
    return await readable_one(
        session, Project, principal, domain.PROJECTS, project_id, for_update=for_update
    )


async def project(
    session: AsyncSession, project_id: uuid.UUID, *, for_update: bool = False
) -> Project | None:
    query = select(Project).where(Project.id == project_id)
    if for_update:
        query = query.with_for_update().execution_options(populate_existing=True)
    return await session.scalar(query)


async def insert_project(session: AsyncSession, project: Project) -> None:
    session.add(project)
    await session.flush()


async def project_page(
    session: AsyncSession,
    principal: Principal,
    filters: ProjectFilters,
    limit: int,
    cursor: str | None,
) -> tuple[Sequence[Mapping[str, Any]], str | None]:
    """A keyset page ordered by id, on the fast read path (docs/services.md): one
    statement per shape (``_page_statement``) run by asyncpg with this request's values;
    its rows (asyncpg ``Record``s) are shaped once, by ``views.project_out``."""
    present = tuple(f for f in _FILTERS if getattr(filters, f) is not None)
    params: dict[str, Any] = {f: getattr(filters, f) for f in present}
    params["limit"] = limit + 1  # the extra row only says whether a next page exists
    if cursor is not None:
        params["after"] = pagination.decode_cursor(cursor, [uuid.UUID])[0]
    statement = _page_statement(
        access.condition(principal, domain.PROJECTS), present, cursor is not None
    )
    rows = await fetch(session, statement, params)
    page = cast(Sequence[Mapping[str, Any]], rows)  # Records read as mappings
    return pagination.next_page(page, limit, _PAGE_KEY)


_FILTERS = ("org", "status")
_FILTER_COLUMNS = {"org": Project.org_id, "status": Project.status}


@lru_cache(maxsize=CLAUSES_KEPT)
def _page_statement(
    readable_by: access.Condition, present: tuple[str, ...], after: bool
) -> Select[Any]:
    """The page's SELECT for one shape: who reads (the shared access condition, its
    values literals), which filters are set, a cursor; request values are bindparams."""
    query = select(*_PAGE_COLUMNS).where(
        to_sql(readable_by, Project), *(_FILTER_COLUMNS[f] == bindparam(f) for f in present)
    )
    if after:
        query = query.where(Project.id > bindparam("after"))
    return query.order_by(*_PAGE_KEY).limit(bindparam("limit", type_=Integer))


async def upgrades_unaccepted(session: AsyncSession, project: Project) -> bool:
    """leshan:8 item 8 from the data: another approved project on these systems that has
    not passed acceptance."""
    query = select(func.count()).where(
        Project.id != project.id,
        Project.jurisdiction == project.jurisdiction,
        Project.system_ids.overlap(list(project.system_ids)),
        Project.status.in_(("approved", "in_construction", "suspended")),
    )
    return bool(await session.scalar(query))


async def next_number(session: AsyncSession, jurisdiction: str, year: int) -> int:
    """The next of the jurisdiction's year: one statement on the counter row, so 20
    concurrent approvals queue on that row and each takes its own number."""
    t = project_numbers
    insert_ = pg_insert(t).values(jurisdiction=jurisdiction, year=year, last=1)
    upsert = insert_.on_conflict_do_update(
        index_elements=[t.c.jurisdiction, t.c.year], set_={"last": t.c.last + 1}
    ).returning(t.c.last)
    last: int = (await session.execute(upsert)).scalar_one()
    return last


async def approved_in(
    session: AsyncSession, principal: Principal, year: int
) -> Sequence[Mapping[str, Any]]:
    """The annual project list (leshan:17): the projects approved that year, by number."""
    query = (
        select(*_PROJECT_COLUMNS, known_units.c.name.label("unit_name"))
        .outerjoin(known_units, known_units.c.id == Project.org_id)
        .where(
            access_clause(principal, Project, domain.PROJECTS),
            Project.number.is_not(None),
            func.extract("year", Project.approved_on) == year,
        )
        .order_by(Project.number)
    )
    rows = (await session.execute(query)).mappings().all()
    return cast(Sequence[Mapping[str, Any]], rows)  # RowMappings, read by column name


# --- what hangs off a project ---------------------------------------------------------------


async def add(session: AsyncSession, record: Any) -> None:
    session.add(record)
    await session.flush()


async def materials(session: AsyncSession, project_id: uuid.UUID) -> Sequence[Material]:
    query = select(Material).where(Material.project_id == project_id).order_by(Material.id)
    return (await session.scalars(query)).all()


async def opinions(session: AsyncSession, project_id: uuid.UUID) -> Sequence[Opinion]:
    query = select(Opinion).where(Opinion.project_id == project_id).order_by(Opinion.id)
    return (await session.scalars(query)).all()


async def reviews(session: AsyncSession, project_id: uuid.UUID) -> Sequence[Review]:
    query = select(Review).where(Review.project_id == project_id).order_by(Review.id)
    return (await session.scalars(query)).all()


async def changes(session: AsyncSession, project_id: uuid.UUID) -> Sequence[Change]:
    query = select(Change).where(Change.project_id == project_id).order_by(Change.id)
    return (await session.scalars(query)).all()


async def change(
    session: AsyncSession, project_id: uuid.UUID, change_id: uuid.UUID
) -> Change | None:
    query = (
        select(Change)
        .where(Change.id == change_id, Change.project_id == project_id)
        .with_for_update()
    )
    return await session.scalar(query)


async def record(
    session: AsyncSession,
    project_id: uuid.UUID,
    at: datetime,
    actor: str,
    actor_org: str,
    action: str,
    changes: Mapping[str, Any],
    *,
    rule: str | None = None,
    cause: str | None = None,
    cause_id: str | None = None,
) -> None:
    """One line of the project's history, in the change's transaction."""
    await session.execute(
        insert(project_history).values(
            id=new_id(),
            project_id=project_id,
            at=at,
            actor=actor,
            actor_org=actor_org,
            action=action,
            rule=rule,
            cause=cause,
            cause_id=cause_id,
            changes=dict(changes),
        )
    )


async def history(session: AsyncSession, project_id: uuid.UUID) -> Sequence[Mapping[str, Any]]:
    t = project_history
    query = select(t).where(t.c.project_id == project_id).order_by(t.c.at, t.c.id)
    rows = (await session.execute(query)).mappings().all()
    return cast(Sequence[Mapping[str, Any]], rows)  # RowMappings, read by column name


async def saved(
    session: AsyncSession,
    project: Project,
    now: datetime,
    *,
    actor: str,
    actor_org: str,
    action: str,
    changes: Mapping[str, Any],
    event_type: str,
    extra: Mapping[str, Any] | None = None,
    rule: str | None = None,
    cause: str | None = None,
    cause_id: str | None = None,
) -> None:
    """Write a changed project: its new version, the history line that says why, and the
    event with its full state, all in the caller's transaction."""
    project.version += 1
    project.updated_at = now
    await session.flush()
    await record(
        session,
        project.id,
        now,
        actor,
        actor_org,
        action,
        changes,
        rule=rule,
        cause=cause,
        cause_id=cause_id,
    )
    data = views.project_payload(project, **dict(extra or {}))
    await publisher.publish(session, event_type, project.id, data, now)
