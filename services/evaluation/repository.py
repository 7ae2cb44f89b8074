"""The evaluation service's queries: plain functions of the request's session.

Nothing here decides: who may read is the kit's access clause (``readable``), what
may change is ``domain``'s; a query returns rows or ORM objects and never raises an
HTTP error.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from functools import lru_cache
from typing import Any, cast

from sqlalchemy import ColumnElement, Integer, Select, Table, and_, bindparam, func, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.evaluation import domain
from services.evaluation.models import (
    Assessment,
    Evaluation,
    Questionnaire,
    Rectification,
    SpotCheck,
    projects,
    questionnaire_answers,
    rectification_revisions,
    self_evaluation_filings,
    units,
)
from services.evaluation.schemas import (
    AssessmentFilters,
    EvaluationFilters,
    RectificationFilters,
)
from shared import pagination
from shared import revisions as trail
from shared.auth import Principal
from shared.auth.access import Condition, condition
from shared.auth.access_sql import CLAUSES_KEPT, readable_one, to_sql
from shared.db.fast import fetch, fetchable

# --- projections ---------------------------------------------------------------------------


async def project(session: AsyncSession, project_id: uuid.UUID) -> Mapping[str, Any] | None:
    row = (await session.execute(select(projects).where(projects.c.id == project_id))).first()
    return None if row is None else cast(Mapping[str, Any], row._mapping)  # read by name


async def unit_jurisdiction(session: AsyncSession, unit_id: uuid.UUID) -> str | None:
    found: str | None = await session.scalar(
        select(units.c.jurisdiction).where(units.c.id == unit_id)
    )
    return found


async def upsert_unit(session: AsyncSession, values: Mapping[str, Any]) -> None:
    """A unit of the directory (its name and jurisdiction never change their meaning)."""
    insert = pg_insert(units).values(**values)
    await session.execute(insert.on_conflict_do_nothing(index_elements=[units.c.id]))


async def self_evaluation_filing(
    session: AsyncSession, filing_id: uuid.UUID
) -> Mapping[str, Any] | None:
    query = select(self_evaluation_filings).where(self_evaluation_filings.c.id == filing_id)
    row = (await session.execute(query)).first()
    return None if row is None else cast(Mapping[str, Any], row._mapping)  # read by name


async def latest_unlinked_filing(
    session: AsyncSession, project_id: uuid.UUID
) -> Mapping[str, Any] | None:
    """The project's latest self-evaluation filing that no evaluation goes with yet."""
    f = self_evaluation_filings
    linked = select(Evaluation.filing_id).where(Evaluation.filing_id.is_not(None))
    query = (
        select(f)
        .where(f.c.project_id == project_id, f.c.id.not_in(linked))
        .order_by(f.c.event_date.desc(), f.c.id.desc())
        .limit(1)
    )
    row = (await session.execute(query)).first()
    return None if row is None else cast(Mapping[str, Any], row._mapping)  # read by name


# --- evaluations ------------------------------------------------------------------------

_EVALUATION_KEY = (Evaluation.id,)
_EVALUATION_COLUMNS = tuple(Evaluation.__table__.columns)


async def add(session: AsyncSession, record: object) -> None:
    session.add(record)
    await session.flush()


async def readable_evaluation(
    session: AsyncSession,
    principal: Principal,
    evaluation_id: uuid.UUID,
    *,
    for_update: bool = False,
) -> Evaluation | None:
    return await readable_one(
        session, Evaluation, principal, domain.EVALUATIONS, evaluation_id, for_update=for_update
    )


async def evaluation_page(
    session: AsyncSession,
    principal: Principal,
    filters: EvaluationFilters,
    limit: int,
    cursor: str | None,
) -> tuple[Sequence[Mapping[str, Any]], str | None]:
    """A keyset page by id on the fast read path (docs/services.md): one statement per
    shape (``_page_statement``) run by asyncpg; rows shaped once by ``views``."""
    present, params = _equal_filters(filters, ("project_id", "org", "kind", "year"))
    readable_by = condition(principal, domain.EVALUATIONS)
    return await _page(session, Evaluation, readable_by, present, params, limit, cursor)


async def self_evaluations_of(
    session: AsyncSession, jurisdiction: str, year: int
) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """``(id, org)`` of the completed self-evaluations of a jurisdiction and year."""
    query = select(Evaluation.id, Evaluation.org).where(
        Evaluation.jurisdiction == jurisdiction,
        Evaluation.kind == "self",
        Evaluation.year == year,
        Evaluation.status == "completed",
    )
    return [(row.id, row.org) for row in await session.execute(query)]


# --- questionnaires -------------------------------------------------------------------------


async def questionnaire_of(session: AsyncSession, evaluation_id: uuid.UUID) -> Questionnaire | None:
    query = select(Questionnaire).where(Questionnaire.evaluation_id == evaluation_id)
    return await session.scalar(query)


async def record_answer(session: AsyncSession, values: Mapping[str, Any]) -> bool:
    """False when the token has answered already: the unique (questionnaire, token)
    index decides, so of two concurrent answers with one token exactly one counts."""
    insert = (
        pg_insert(questionnaire_answers)
        .values(**values)
        .on_conflict_do_nothing(constraint="uq_questionnaire_answers_token")
        .returning(questionnaire_answers.c.id)
    )
    return (await session.execute(insert)).first() is not None


async def answers_of(session: AsyncSession, questionnaire_id: uuid.UUID) -> list[int]:
    query = select(questionnaire_answers.c.satisfaction).where(
        questionnaire_answers.c.questionnaire_id == questionnaire_id
    )
    return list((await session.scalars(query)).all())


async def answer_count(session: AsyncSession, questionnaire_id: uuid.UUID) -> int:
    query = select(func.count()).where(questionnaire_answers.c.questionnaire_id == questionnaire_id)
    return int(await session.scalar(query) or 0)


# --- rectifications ---------------------------------------------------------------------

_RECTIFICATION_KEY = (Rectification.id,)
_RECTIFICATION_COLUMNS = tuple(Rectification.__table__.columns)


async def readable_rectification(
    session: AsyncSession, principal: Principal, order_id: uuid.UUID, *, for_update: bool = False
) -> Rectification | None:
    return await readable_one(
        session, Rectification, principal, domain.RECTIFICATIONS, order_id, for_update=for_update
    )


async def rectification_page(
    session: AsyncSession,
    principal: Principal,
    filters: RectificationFilters,
    today: date,
    limit: int,
    cursor: str | None,
) -> tuple[Sequence[Mapping[str, Any]], str | None]:
    present, params = _equal_filters(filters, ("project_id", "org", "status"))
    if filters.overdue is not None:
        present += ("overdue" if filters.overdue else "not_overdue",)
        params["today"] = today
    readable_by = condition(principal, domain.RECTIFICATIONS)
    return await _page(session, Rectification, readable_by, present, params, limit, cursor)


async def insert_suggestion(session: AsyncSession, values: Mapping[str, Any]) -> bool:
    """A suggested order for a missed obligation; False when it has one already."""
    table = cast(Table, Rectification.__table__)  # a Table; the stubs say FromClause
    insert = (
        pg_insert(table)
        .values(**values)
        .on_conflict_do_nothing(
            index_elements=[table.c.obligation_id],
            index_where=table.c.obligation_id.is_not(None),
        )
        .returning(table.c.id)
    )
    return (await session.execute(insert)).first() is not None


async def record_revision(
    session: AsyncSession,
    order_id: uuid.UUID,
    principal: Principal,
    changes: dict[str, Any],
    now: datetime,
) -> None:
    await session.flush()
    await trail.record(session, rectification_revisions, order_id, principal, changes, now)


async def history(session: AsyncSession, order_id: uuid.UUID) -> Sequence[dict[str, Any]]:
    return await trail.trail(session, rectification_revisions, order_id)


# --- assessments and spot checks ------------------------------------------------------------

_ASSESSMENT_KEY = (Assessment.id,)
_ASSESSMENT_COLUMNS = tuple(Assessment.__table__.columns)


async def insert_assessment(session: AsyncSession, values: Mapping[str, Any]) -> Assessment | None:
    """The new assessment, or None when the unit has that year's already."""
    assessment: Assessment | None = await session.scalar(
        pg_insert(Assessment)
        .values(**values)
        .on_conflict_do_nothing(constraint="uq_assessments_org_year")
        .returning(Assessment)
    )
    return assessment


async def assessment_page(
    session: AsyncSession,
    principal: Principal,
    filters: AssessmentFilters,
    limit: int,
    cursor: str | None,
) -> tuple[Sequence[Mapping[str, Any]], str | None]:
    present, params = _equal_filters(filters, ("org", "year"))
    readable_by = condition(principal, domain.ASSESSMENTS)
    return await _page(session, Assessment, readable_by, present, params, limit, cursor)


# --- the fast read path of every list ----------------------------------------------------

Paged = type[Evaluation] | type[Rectification] | type[Assessment]


def _equal_filters(filters: Any, fields: tuple[str, ...]) -> tuple[tuple[str, ...], dict[str, Any]]:
    """The equality filters set and their bindparams' values."""
    present = tuple(f for f in fields if getattr(filters, f) is not None)
    return present, {f: getattr(filters, f) for f in present}


async def _page(
    session: AsyncSession,
    model: Paged,
    readable_by: Condition,
    present: tuple[str, ...],
    params: dict[str, Any],
    limit: int,
    cursor: str | None,
) -> tuple[Sequence[Mapping[str, Any]], str | None]:
    params["limit"] = limit + 1  # the extra row only says whether a next page exists
    if cursor is not None:
        params["after"] = pagination.decode_cursor(cursor, [uuid.UUID])[0]
    statement = _page_statement(model, readable_by, present, cursor is not None)
    rows = cast(Sequence[Mapping[str, Any]], await fetch(session, statement, params))
    return pagination.next_page(rows, limit, (model.__table__.c.id,))


def _late() -> ColumnElement[bool]:
    """The SQL form of domain.overdue (unresolved and past due)."""
    unresolved = or_(*(Rectification.status == status for status in domain.UNRESOLVED))
    return and_(unresolved, Rectification.due_on < bindparam("today"))


def _condition(model: Paged, name: str) -> ColumnElement[bool]:
    if name == "overdue":
        return _late()
    if name == "not_overdue":
        return ~_late()
    column: ColumnElement[Any] = model.__table__.c[name]
    return column == bindparam(name)


@lru_cache(maxsize=CLAUSES_KEPT)
def _page_statement(
    model: Paged, readable_by: Condition, present: tuple[str, ...], after: bool
) -> Select[Any]:
    """One page shape: who reads (the shared access condition, its values literals),
    which filters are set, a cursor; every request value a bindparam (``fetch``)."""
    table = model.__table__
    query = select(*fetchable(*table.columns)).where(
        to_sql(readable_by, model), *(_condition(model, name) for name in present)
    )
    if after:
        query = query.where(table.c.id > bindparam("after"))
    return query.order_by(table.c.id).limit(bindparam("limit", type_=Integer))


async def readable_assessment(
    session: AsyncSession, principal: Principal, assessment_id: uuid.UUID
) -> Assessment | None:
    return await readable_one(session, Assessment, principal, domain.ASSESSMENTS, assessment_id)


async def readable_spot_check(
    session: AsyncSession, principal: Principal, spot_check_id: uuid.UUID
) -> SpotCheck | None:
    return await readable_one(session, SpotCheck, principal, domain.SPOT_CHECKS, spot_check_id)


async def spot_check(session: AsyncSession, check: SpotCheck) -> None:
    session.add(check)
    await session.flush()
