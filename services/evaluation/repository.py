"""The evaluation service's queries: plain functions of the request's session.

Nothing here decides: who may read is the kit's access clause (``readable``), what
may change is ``domain``'s; a query returns rows or ORM objects and never raises an
HTTP error.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select
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
from shared.auth.access_sql import access_clause, readable

# --- projections ---------------------------------------------------------------------------


async def project(session: AsyncSession, project_id: uuid.UUID) -> Mapping[str, Any] | None:
    row = (await session.execute(select(projects).where(projects.c.id == project_id))).first()
    return None if row is None else row._mapping


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
    return None if row is None else row._mapping


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
    return None if row is None else row._mapping


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
    query = readable(Evaluation, principal, domain.EVALUATIONS).where(
        Evaluation.id == evaluation_id
    )
    if for_update:
        query = query.with_for_update().execution_options(populate_existing=True)
    return await session.scalar(query)


async def evaluation_page(
    session: AsyncSession,
    principal: Principal,
    filters: EvaluationFilters,
    limit: int,
    cursor: str | None,
) -> tuple[Sequence[Mapping[str, Any]], str | None]:
    query = select(*_EVALUATION_COLUMNS).where(
        access_clause(principal, Evaluation, domain.EVALUATIONS)
    )
    for field in ("project_id", "org", "kind", "year"):
        value = getattr(filters, field)
        if value is not None:
            query = query.where(getattr(Evaluation, field) == value)
    query = pagination.keyset(query, _EVALUATION_KEY, limit, cursor)
    rows = (await session.execute(query)).mappings().all()
    return pagination.next_page(rows, limit, _EVALUATION_KEY)


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
    query = readable(Rectification, principal, domain.RECTIFICATIONS).where(
        Rectification.id == order_id
    )
    if for_update:
        query = query.with_for_update().execution_options(populate_existing=True)
    return await session.scalar(query)


async def rectification_page(
    session: AsyncSession,
    principal: Principal,
    filters: RectificationFilters,
    today: date,
    limit: int,
    cursor: str | None,
) -> tuple[Sequence[Mapping[str, Any]], str | None]:
    query = select(*_RECTIFICATION_COLUMNS).where(
        access_clause(principal, Rectification, domain.RECTIFICATIONS)
    )
    for field in ("project_id", "org", "status"):
        value = getattr(filters, field)
        if value is not None:
            query = query.where(getattr(Rectification, field) == value)
    if filters.overdue is not None:
        # The SQL form of domain.overdue.
        late = Rectification.status.in_(domain.UNRESOLVED) & (Rectification.due_on < today)
        query = query.where(late if filters.overdue else ~late)
    query = pagination.keyset(query, _RECTIFICATION_KEY, limit, cursor)
    rows = (await session.execute(query)).mappings().all()
    return pagination.next_page(rows, limit, _RECTIFICATION_KEY)


async def insert_suggestion(session: AsyncSession, values: Mapping[str, Any]) -> bool:
    """A suggested order for a missed obligation; False when it has one already."""
    table = Rectification.__table__
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
    query = select(*_ASSESSMENT_COLUMNS).where(
        access_clause(principal, Assessment, domain.ASSESSMENTS)
    )
    if filters.org is not None:
        query = query.where(Assessment.org == filters.org)
    if filters.year is not None:
        query = query.where(Assessment.year == filters.year)
    query = pagination.keyset(query, _ASSESSMENT_KEY, limit, cursor)
    rows = (await session.execute(query)).mappings().all()
    return pagination.next_page(rows, limit, _ASSESSMENT_KEY)


async def readable_assessment(
    session: AsyncSession, principal: Principal, assessment_id: uuid.UUID
) -> Assessment | None:
    query = readable(Assessment, principal, domain.ASSESSMENTS).where(
        Assessment.id == assessment_id
    )
    return await session.scalar(query)


async def spot_check(session: AsyncSession, check: SpotCheck) -> None:
    session.add(check)
    await session.flush()
