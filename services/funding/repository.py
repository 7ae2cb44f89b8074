"""The funding service's queries: plain functions of the session; nothing here decides."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from decimal import Decimal
from functools import lru_cache
from typing import Any, cast

from sqlalchemy import Integer, Row, Select, bindparam, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.funding.models import (
    PROJECTS,
    allocation_items,
    allocation_plans,
    calendar_years,
    gate_states,
    ledgers,
    movements,
    notice_settings,
    projects,
    records,
    systems,
)
from shared import pagination
from shared.auth import Principal
from shared.auth.access import Condition, condition
from shared.auth.access_sql import CLAUSES_KEPT, access_clause, to_sql
from shared.db.fast import fetch, fetchable

# --- the projection ---------------------------------------------------------------------


async def project(
    session: AsyncSession, project_id: uuid.UUID, *, for_update: bool = False
) -> Row[Any] | None:
    query = select(projects).where(projects.c.id == project_id)
    if for_update:
        query = query.with_for_update()
    return (await session.execute(query)).first()


async def readable_project(
    session: AsyncSession, principal: Principal, project_id: uuid.UUID
) -> Row[Any] | None:
    """The project, or None when it does not exist or is not the caller's to read."""
    query = select(projects).where(
        access_clause(principal, projects, PROJECTS), projects.c.id == project_id
    )
    return (await session.execute(query)).first()


async def projects_with_system(session: AsyncSession, system_id: uuid.UUID) -> list[uuid.UUID]:
    # @> answers from the GIN index on system_ids
    query = select(projects.c.id).where(projects.c.system_ids.contains([system_id]))
    return list((await session.scalars(query)).all())


async def systems_of(session: AsyncSession, ids: Sequence[uuid.UUID]) -> Sequence[Row[Any]]:
    if not ids:
        return []
    return (await session.execute(select(systems).where(systems.c.id.in_(list(ids))))).all()


async def records_of(session: AsyncSession, project_id: uuid.UUID) -> Sequence[Row[Any]]:
    return (await session.execute(select(records).where(records.c.project_id == project_id))).all()


async def calendar_rows(session: AsyncSession) -> Sequence[Row[Any]]:
    return (await session.execute(select(calendar_years))).all()


async def gate_rows(session: AsyncSession, project_id: uuid.UUID) -> dict[str, Row[Any]]:
    rows = await session.execute(select(gate_states).where(gate_states.c.project_id == project_id))
    return {row.category: row for row in rows}


async def save_gate(session: AsyncSession, values: Mapping[str, Any]) -> None:
    insert = pg_insert(gate_states).values(dict(values))
    await session.execute(
        insert.on_conflict_do_update(
            index_elements=[gate_states.c.project_id, gate_states.c.category],
            set_={k: insert.excluded[k] for k in values if k not in ("project_id", "category")},
        )
    )


# --- allocations ------------------------------------------------------------------------


async def allocations(
    session: AsyncSession, project_ids: Sequence[uuid.UUID], year: int | None = None
) -> Sequence[Row[Any, Any, Any, Any, Any]]:
    """Allocated amounts per project, category, year and effective day."""
    t = allocation_items
    query = select(t.c.project_id, t.c.category, t.c.year, t.c.effective_on, t.c.amount).where(
        t.c.project_id.in_(list(project_ids))
    )
    if year is not None:
        query = query.where(t.c.year == year)
    return (await session.execute(query)).all()


async def insert_plan(
    session: AsyncSession, plan: Mapping[str, Any], items: Sequence[Mapping[str, Any]]
) -> None:
    await session.execute(allocation_plans.insert().values(dict(plan)))
    await session.execute(allocation_items.insert(), [dict(i) for i in items])


async def notice_setting(session: AsyncSession, profile: str) -> Row[Any] | None:
    query = select(notice_settings).where(notice_settings.c.profile == profile)
    return (await session.execute(query)).first()


async def save_notice_setting(session: AsyncSession, values: Mapping[str, Any]) -> None:
    insert = pg_insert(notice_settings).values(dict(values))
    await session.execute(
        insert.on_conflict_do_update(
            index_elements=[notice_settings.c.profile],
            set_={k: insert.excluded[k] for k in values if k != "profile"},
        )
    )


# --- the ledger ---------------------------------------------------------------------------


async def ledger_rows(session: AsyncSession, project_id: uuid.UUID) -> Sequence[Row[Any]]:
    query = select(ledgers).where(ledgers.c.project_id == project_id).order_by(ledgers.c.year)
    return (await session.execute(query)).all()


async def lock_ledgers(
    session: AsyncSession, project_id: uuid.UUID, year: int, ceiling: Decimal
) -> Sequence[Row[Any]]:
    """Every ledger row of the project, locked (the year's row made if missing).

    Locking all of the project's rows, in year order, serialises the project's
    movements across instances: the approved total spans years, so a movement in
    one year must see the others' totals as they are.
    """
    await session.execute(
        pg_insert(ledgers)
        .values(project_id=project_id, year=year, ceiling=ceiling)
        .on_conflict_do_nothing()
    )
    query = (
        select(ledgers)
        .where(ledgers.c.project_id == project_id)
        .order_by(ledgers.c.year)
        .with_for_update()
    )
    return (await session.execute(query)).all()


async def move(
    session: AsyncSession,
    project_id: uuid.UUID,
    year: int,
    category: str,
    amount: Decimal,
    ceiling: Decimal,
    entry: Mapping[str, Any],
) -> None:
    """Add ``amount`` (negative: a return) to the year's row, and write its entry."""
    column = ledgers.c[category]
    await session.execute(
        update(ledgers)
        .where(ledgers.c.project_id == project_id, ledgers.c.year == year)
        .values({column: column + amount, ledgers.c.ceiling: ceiling})
    )
    await session.execute(movements.insert().values(dict(entry)))


async def movement_page(
    session: AsyncSession,
    principal: Principal,
    project_id: uuid.UUID | None,
    limit: int,
    cursor: str | None,
) -> tuple[Sequence[Mapping[str, Any]], str | None]:
    """A keyset page by id on the fast read path (docs/services.md): one statement per
    shape (``_movement_statement``) run by asyncpg; rows shaped once by ``views``."""
    params: dict[str, Any] = {"limit": limit + 1}  # the extra row: is there a next page
    if project_id is not None:
        params["project_id"] = project_id
    if cursor is not None:
        params["after"] = pagination.decode_cursor(cursor, [uuid.UUID])[0]
    statement = _movement_statement(
        condition(principal, PROJECTS), project_id is not None, cursor is not None
    )
    rows = cast(Sequence[Mapping[str, Any]], await fetch(session, statement, params))
    return pagination.next_page(rows, limit, _MOVEMENT_KEY)


_MOVEMENT_KEY = (movements.c.id,)


@lru_cache(maxsize=CLAUSES_KEPT)
def _movement_statement(readable_by: Condition, by_project: bool, after: bool) -> Select[Any]:
    """One page shape: who reads (the shared access condition, its values literals), a
    project filter, a cursor; every request value a bindparam (``fetch``)."""
    query = select(*fetchable(*movements.columns)).where(to_sql(readable_by, movements))
    if by_project:
        query = query.where(movements.c.project_id == bindparam("project_id"))
    if after:
        query = query.where(movements.c.id > bindparam("after"))
    return query.order_by(*_MOVEMENT_KEY).limit(bindparam("limit", type_=Integer))


async def disbursed_total(session: AsyncSession, project_id: uuid.UUID) -> Decimal:
    query = select(func.coalesce(func.sum(ledgers.c.construction + ledgers.c.operations), 0))
    return Decimal(await session.scalar(query.where(ledgers.c.project_id == project_id)) or 0)
