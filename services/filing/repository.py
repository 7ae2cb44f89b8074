"""The filing service's queries: plain functions of the session; nothing here decides.

Who may read is the kit's access clause (``readable``); lists are keyset pages by id.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from functools import lru_cache
from typing import Any, cast

from sqlalchemy import Integer, Select, and_, bindparam, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.filing import domain, views
from services.filing.models import (
    Acceptance,
    CalendarYear,
    Filing,
    Obligation,
    Project,
    publisher,
)
from shared import pagination
from shared.auth import Principal
from shared.auth.access import Condition, Ownership, condition
from shared.auth.access_sql import CLAUSES_KEPT, readable_one, to_sql
from shared.calendar import WorkdayCalendar
from shared.db.fast import fetch, fetchable
from shared.ids import new_id

PROJECTS = Ownership(jurisdiction="jurisdiction", org="org", co_owners="co_orgs")
OWNED = Ownership(jurisdiction="jurisdiction", org="org")


# --- projects -------------------------------------------------------------------------


async def readable_project(
    session: AsyncSession, principal: Principal, project_id: uuid.UUID, *, for_update: bool = False
) -> Project | None:
    return await readable_one(
        session, Project, principal, PROJECTS, project_id, for_update=for_update
    )


async def project(session: AsyncSession, project_id: uuid.UUID) -> Project | None:
    return await session.get(Project, project_id)


async def unit_jurisdiction(session: AsyncSession, org: uuid.UUID) -> str | None:
    """The jurisdiction of a unit as its projects know it (None: no project of it yet)."""
    query = select(Project.jurisdiction).where(Project.org == org).limit(1)
    return await session.scalar(query)


# --- obligations ----------------------------------------------------------------------


async def open_plans(
    session: AsyncSession,
    project: Project,
    plans: Sequence[domain.Plan],
    now: datetime,
    *,
    status: str | None = None,
    met_by: uuid.UUID | None = None,
) -> list[Obligation]:
    """Insert the planned obligations (one per project, type and period: a plan already
    opened stays as it is) and return each one, new or existing."""
    out = []
    for plan in plans:
        state = status or plan.deadline.status
        values: dict[str, Any] = {
            "id": new_id(),
            "project_id": project.id,
            "org": project.org,
            "jurisdiction": project.jurisdiction,
            "type": plan.type,
            "period": plan.period,
            "rule": plan.rule,
            "status": state,
            "due_on": plan.deadline.due_on,
            "counted_from": plan.counted_from,
            "workdays": plan.workdays,
            "met_by": met_by,
            "next_check_on": domain.next_check(state, plan.deadline.due_on),
            "version": 1,
            "created_at": now,
            "updated_at": now,
        }
        insert = pg_insert(Obligation).values(values).on_conflict_do_nothing()
        await session.execute(insert)
        found = await obligation(session, project.id, plan.type, plan.period, for_update=True)
        assert found is not None  # inserted or already there
        out.append(found)
    return out


async def obligation(
    session: AsyncSession,
    project_id: uuid.UUID,
    type_: str,
    period: str = "",
    *,
    for_update: bool = False,
) -> Obligation | None:
    query = select(Obligation).where(
        Obligation.project_id == project_id, Obligation.type == type_, Obligation.period == period
    )
    if for_update:
        query = query.with_for_update()
    return await session.scalar(query.execution_options(populate_existing=True))


async def first_unmet(
    session: AsyncSession, project_id: uuid.UUID, type_: str, period: str | None
) -> Obligation | None:
    """The obligation of that type a filing meets: the given period's, else the earliest."""
    query = select(Obligation).where(
        Obligation.project_id == project_id,
        Obligation.type == type_,
        Obligation.status.in_(domain.UNMET_STATUSES),
    )
    if period is not None:
        query = query.where(Obligation.period == period)
    query = query.order_by(Obligation.period, Obligation.id).limit(1).with_for_update()
    return await session.scalar(query)


async def recomputable(session: AsyncSession) -> Sequence[Obligation]:
    """Every open or pending obligation whose deadline counts working days."""
    query = (
        select(Obligation)
        .where(
            Obligation.status.in_(domain.OPEN_STATUSES),
            Obligation.counted_from.is_not(None),
            Obligation.workdays.is_not(None),
        )
        .order_by(Obligation.id)
        .with_for_update()
    )
    return (await session.scalars(query)).all()


async def pending(session: AsyncSession, limit: int) -> Sequence[Obligation]:
    query = (
        select(Obligation)
        .where(Obligation.status == "pending_calendar")
        .order_by(Obligation.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return (await session.scalars(query)).all()


async def due_for_check(session: AsyncSession, today: date, limit: int) -> Sequence[Obligation]:
    """Open obligations whose stored next-check time has come, locked; rows another
    replica holds are skipped (it is handling them), so each is handled once."""
    query = (
        select(Obligation)
        .where(Obligation.status == "open", Obligation.next_check_on <= today)
        .order_by(Obligation.next_check_on, Obligation.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return (await session.scalars(query)).all()


async def obligations_page(
    session: AsyncSession,
    principal: Principal,
    filters: dict[str, Any],
    limit: int,
    cursor: str | None,
) -> tuple[Sequence[Mapping[str, Any]], str | None]:
    """A keyset page of obligations by id on the fast read path (docs/services.md): one
    statement per shape run by asyncpg; rows shaped once by ``views.obligation_out``."""
    return await _page(session, Obligation, principal, filters, limit, cursor)


# --- filings and acceptances ------------------------------------------------------------


async def readable_filing(
    session: AsyncSession, principal: Principal, filing_id: uuid.UUID, *, for_update: bool = False
) -> Filing | None:
    return await readable_one(session, Filing, principal, OWNED, filing_id, for_update=for_update)


async def filings_page(
    session: AsyncSession,
    principal: Principal,
    filters: dict[str, Any],
    limit: int,
    cursor: str | None,
) -> tuple[Sequence[Mapping[str, Any]], str | None]:
    """A keyset page of filings by id on the fast read path; rows shaped once by
    ``views.filing_out``."""
    return await _page(session, Filing, principal, filters, limit, cursor)


# The filters a page may set (a value that is not truthy is no filter), as conditions on
# bindparams named after them; ``overdue_on``: past due with no filing, still open (the
# scheduler may not have run) or missed.
_FILTERS: dict[type, dict[str, Any]] = {
    Obligation: {
        "jurisdiction": lambda: Obligation.jurisdiction == bindparam("jurisdiction"),
        "project_id": lambda: Obligation.project_id == bindparam("project_id"),
        "status": lambda: Obligation.status == bindparam("status"),
        "type": lambda: Obligation.type == bindparam("type"),
        "org": lambda: Obligation.org == bindparam("org"),
        "due_before": lambda: Obligation.due_on < bindparam("due_before"),
        "overdue_on": lambda: and_(
            or_(Obligation.status == "open", Obligation.status == "missed"),
            Obligation.due_on < bindparam("overdue_on"),
        ),
    },
    Filing: {
        "project_id": lambda: Filing.project_id == bindparam("project_id"),
        "type": lambda: Filing.type == bindparam("type"),
    },
}


async def _page(
    session: AsyncSession,
    model: type[Filing] | type[Obligation],
    principal: Principal,
    filters: dict[str, Any],
    limit: int,
    cursor: str | None,
) -> tuple[Sequence[Mapping[str, Any]], str | None]:
    present = tuple(f for f in _FILTERS[model] if filters.get(f))
    params: dict[str, Any] = {f: filters[f] for f in present}
    params["limit"] = limit + 1  # the extra row only says whether a next page exists
    if cursor is not None:
        params["after"] = pagination.decode_cursor(cursor, [uuid.UUID])[0]
    statement = _page_statement(model, condition(principal, OWNED), present, cursor is not None)
    rows = cast(Sequence[Mapping[str, Any]], await fetch(session, statement, params))
    return pagination.next_page(rows, limit, (model.__table__.c.id,))


@lru_cache(maxsize=CLAUSES_KEPT)
def _page_statement(
    model: type[Filing] | type[Obligation],
    readable_by: Condition,
    present: tuple[str, ...],
    after: bool,
) -> Select[Any]:
    """One page shape: who reads (the shared access condition, its values literals),
    which filters are set, a cursor; every request value a bindparam (``fetch``)."""
    table = model.__table__
    query = select(*fetchable(*table.columns)).where(
        to_sql(readable_by, model), *(_FILTERS[model][f]() for f in present)
    )
    if after:
        query = query.where(table.c.id > bindparam("after"))
    return query.order_by(table.c.id).limit(bindparam("limit", type_=Integer))


async def handover_filed(session: AsyncSession, project_id: uuid.UUID) -> bool:
    query = select(func.count()).where(Filing.project_id == project_id, Filing.type == "handover")
    return bool(await session.scalar(query))


async def acceptances(session: AsyncSession, project_id: uuid.UUID) -> Sequence[Acceptance]:
    query = select(Acceptance).where(Acceptance.project_id == project_id).order_by(Acceptance.id)
    return (await session.scalars(query)).all()


# --- the calendar -------------------------------------------------------------------


async def calendar_rows(session: AsyncSession) -> Sequence[CalendarYear]:
    return (await session.scalars(select(CalendarYear).order_by(CalendarYear.year))).all()


async def calendar_year(session: AsyncSession, year: int) -> CalendarYear | None:
    query = select(CalendarYear).where(CalendarYear.year == year).with_for_update()
    return await session.scalar(query)


async def recompute(
    session: AsyncSession,
    calendar: WorkdayCalendar,
    obligations: Sequence[Obligation],
    now: datetime,
) -> list[dict[str, Any]]:
    """Count each obligation's deadline again; those set or moved are updated and each
    emits ``obligation.recomputed`` (one flush, one INSERT of the events)."""
    changed: list[tuple[Obligation, date | None]] = []
    for obligation in obligations:
        deadline = domain.deadline_of(
            calendar, obligation.counted_from, obligation.workdays, obligation.due_on
        )
        if (deadline.due_on, deadline.status) == (obligation.due_on, obligation.status):
            continue
        changed.append((obligation, obligation.due_on))
        obligation.due_on = deadline.due_on
        obligation.status = deadline.status
        obligation.next_check_on = domain.next_check(deadline.status, deadline.due_on)
        obligation.version += 1
        obligation.updated_at = now
    if not changed:
        return []
    await session.flush()
    events = [
        publisher.event(
            "govit.filing.obligation.recomputed",
            o.id,
            views.recomputed_payload(o, before),
            now,
        )
        for o, before in changed
    ]
    await publisher.publish_many(session, events)
    return [views.recomputed_out(o, before) for o, before in changed]


async def moved(
    session: AsyncSession, obligation: Obligation, due_on: date | None, rule: str, now: datetime
) -> None:
    """Set a new due date that no working-day count gives (an agreed delay, a changed
    planned completion): open again, checked from the day after; ``recomputed`` emitted."""
    before = obligation.due_on
    obligation.due_on = due_on
    obligation.rule = rule
    obligation.status = "open"
    obligation.next_check_on = domain.next_check("open", due_on)
    obligation.version += 1
    obligation.updated_at = now
    await session.flush()
    data = views.recomputed_payload(obligation, before)
    await publisher.publish(session, "govit.filing.obligation.recomputed", obligation.id, data, now)


async def stop_checks(session: AsyncSession, project_id: uuid.UUID) -> None:
    """A rejected or terminated project owes nothing more: no deadline of it is checked."""
    await session.execute(
        update(Obligation)
        .where(Obligation.project_id == project_id, Obligation.status == "open")
        .values(next_check_on=None)
    )
