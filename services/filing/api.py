"""HTTP routes (API.md "Filing"): parse, call one use case, shape the answer with views."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Any

from fastapi import Depends, Path, Query, Request, Response
from pydantic import BaseModel

from services.filing import errors, repository, service, views
from services.filing.domain import FilingType, LiveCalendar, ObligationStatus, ObligationType
from services.filing.models import idempotency_keys
from services.filing.schemas import (
    AcceptanceCreate,
    AcceptanceOut,
    CalendarLoad,
    CalendarLoaded,
    CalendarYearOut,
    FilingCreate,
    FilingOut,
    FilingPage,
    ObligationPage,
    ReviewCreate,
    ReviewOut,
    WorkdaysOut,
)
from shared.app import DbSession, RequestClock
from shared.auth import CurrentPrincipal, Principal, Role, require_roles
from shared.codes import (
    CURSOR_INVALID,
    IDEMPOTENCY_KEY,
    ROLE_REQUIRED,
    TOKEN_JURISDICTION_MISMATCH,
    VALIDATION_FAILED,
)
from shared.idempotency import idempotent
from shared.pagination import page_response, query_model, query_parameters
from shared.policy.rules import ProfileId
from shared.route_errors import Raises
from shared.routing import Admin, Authority, api_router


def _calendar(request: Request) -> LiveCalendar:
    live: LiveCalendar = request.app.state.live_calendar
    return live


# Every route: a token whose unit lies in another jurisdiction is refused (403).
router = api_router("filing", check_caller=service.check_caller)
Calendar = Annotated[LiveCalendar, Depends(_calendar)]
Filer = Annotated[Principal, Depends(require_roles(Role.UNIT, Role.ADMIN))]
Recorder = Annotated[Principal, Depends(require_roles(Role.AUTHORITY, Role.UNIT))]
Idempotent = idempotent(idempotency_keys)


_raises = Raises(TOKEN_JURISDICTION_MISMATCH, VALIDATION_FAILED)


# --- filings --------------------------------------------------------------------------


@router.post(
    "/filings",
    status_code=201,
    response_model=FilingOut,
    responses=_raises(
        errors.FORBIDDEN,
        errors.PROJECT_UNKNOWN,
        errors.PROJECT_NOT_APPROVED,
        errors.EVENT_DATE_IN_FUTURE,
        errors.FILED_ON_IN_FUTURE,
        errors.FILED_BEFORE_EVENT,
        errors.FILING_FIELDS_MISSING,
        errors.FILING_REFUSED,
        also=[ROLE_REQUIRED, IDEMPOTENCY_KEY],
    ),
    dependencies=[Idempotent],
)
async def file(
    body: FilingCreate,
    session: DbSession,
    principal: Filer,
    clock: RequestClock,
    calendar: Calendar,
) -> dict[str, Any]:
    return views.filing_out(await service.file(session, principal, body, calendar, clock))


class FilingQuery(BaseModel):
    project_id: uuid.UUID | None = None
    type: FilingType | None = None
    limit: int = Query(50, ge=1, le=service.MAX_PAGE)
    cursor: str | None = Query(None, max_length=512)


_filing_query = query_model(FilingQuery)  # the read path: one validation of the query


@router.get(
    "/filings",
    response_model=FilingPage,
    responses=_raises(also=[CURSOR_INVALID]),
    openapi_extra=query_parameters(FilingQuery),
)
async def list_filings(
    query: Annotated[FilingQuery, Depends(_filing_query)],
    session: DbSession,
    principal: CurrentPrincipal,
) -> Response:
    filters = query.model_dump(include={"project_id", "type"})
    rows, cursor = await repository.filings_page(
        session, principal, filters, query.limit, query.cursor
    )
    return page_response([views.filing_out(f) for f in rows], cursor)


class OverdueQuery(BaseModel):
    jurisdiction: ProfileId | None = None  # the caller's own; another one lists nothing
    org: uuid.UUID | None = None
    type: ObligationType | None = None
    project_id: uuid.UUID | None = None
    limit: int = Query(50, ge=1, le=service.MAX_PAGE)
    cursor: str | None = Query(None, max_length=512)


_overdue_query = query_model(OverdueQuery)


@router.get(
    "/filings/overdue",
    response_model=ObligationPage,
    responses=_raises(also=[CURSOR_INVALID]),
    openapi_extra=query_parameters(OverdueQuery),
)
async def overdue(
    query: Annotated[OverdueQuery, Depends(_overdue_query)],
    session: DbSession,
    principal: CurrentPrincipal,
    clock: RequestClock,
) -> Response:
    """Every obligation of the caller's jurisdiction (a unit: its own) whose deadline has
    passed with no filing, by unit and type."""
    filters = {
        **query.model_dump(include={"jurisdiction", "org", "type", "project_id"}),
        "overdue_on": clock.today(),
    }
    rows, cursor = await repository.obligations_page(
        session, principal, filters, query.limit, query.cursor
    )
    return page_response([views.obligation_out(o) for o in rows], cursor)


@router.get("/filings/{filing_id}", response_model=FilingOut, responses=_raises(errors.NOT_FOUND))
async def get_filing(
    filing_id: uuid.UUID, session: DbSession, principal: CurrentPrincipal
) -> dict[str, Any]:
    return views.filing_out(await service.get_filing(session, principal, filing_id))


@router.post(
    "/filings/{filing_id}/review",
    response_model=ReviewOut,
    responses=_raises(
        errors.NOT_FOUND,
        errors.REVIEW_NOT_APPLICABLE,
        errors.FILING_ALREADY_REVIEWED,
        also=[ROLE_REQUIRED, IDEMPOTENCY_KEY],
    ),
    dependencies=[Idempotent],
)
async def review(
    filing_id: uuid.UUID,
    body: ReviewCreate,
    session: DbSession,
    principal: Authority,
    clock: RequestClock,
) -> dict[str, Any]:
    filing, obligation = await service.review(session, principal, filing_id, body, clock)
    return {
        "filing": views.filing_out(filing),
        "obligation": None if obligation is None else views.obligation_out(obligation),
    }


# --- obligations and acceptances ------------------------------------------------------


class ObligationQuery(BaseModel):
    jurisdiction: ProfileId | None = None
    project_id: uuid.UUID | None = None
    status: ObligationStatus | None = None
    type: ObligationType | None = None
    org: uuid.UUID | None = None
    due_before: date | None = None
    limit: int = Query(50, ge=1, le=service.MAX_PAGE)
    cursor: str | None = Query(None, max_length=512)


_obligation_query = query_model(ObligationQuery)


@router.get(
    "/obligations",
    response_model=ObligationPage,
    responses=_raises(also=[CURSOR_INVALID]),
    openapi_extra=query_parameters(ObligationQuery),
)
async def list_obligations(
    query: Annotated[ObligationQuery, Depends(_obligation_query)],
    session: DbSession,
    principal: CurrentPrincipal,
) -> Response:
    filters = query.model_dump(
        include={"jurisdiction", "project_id", "status", "type", "org", "due_before"}
    )
    rows, cursor = await repository.obligations_page(
        session, principal, filters, query.limit, query.cursor
    )
    return page_response([views.obligation_out(o) for o in rows], cursor)


@router.post(
    "/acceptances",
    status_code=201,
    response_model=AcceptanceOut,
    responses=_raises(
        errors.FORBIDDEN,
        errors.PROJECT_UNKNOWN,
        errors.PROJECT_NOT_APPROVED,
        errors.ACCEPTANCE_ALREADY_RECORDED,
        errors.EVENT_DATE_IN_FUTURE,
        also=[ROLE_REQUIRED, IDEMPOTENCY_KEY],
    ),
    dependencies=[Idempotent],
)
async def record_acceptance(
    body: AcceptanceCreate,
    session: DbSession,
    principal: Recorder,
    clock: RequestClock,
    calendar: Calendar,
) -> dict[str, Any]:
    acceptance, obligation = await service.record_acceptance(
        session, principal, body, calendar, clock
    )
    return views.acceptance_out(acceptance, obligation)


# --- the calendar -------------------------------------------------------------------

Year = Annotated[int, Path(ge=1900, le=2200)]


@router.get(
    "/calendar/workdays",
    response_model=WorkdaysOut,
    responses=_raises(also=[errors.CALENDAR_UNKNOWN_TEXT]),
)
async def workdays(
    session: DbSession,
    principal: CurrentPrincipal,
    calendar: Calendar,
    start: date,
    days: Annotated[int, Query(ge=0, le=366)],
) -> dict[str, Any]:
    """The date ``days`` working days after ``start`` (``start`` is day 0)."""
    due = await service.workdays(session, calendar, start, days)
    return {"start": start, "days": days, "due_on": due}


@router.get("/calendar/{year}", response_model=CalendarYearOut, responses=_raises(errors.NOT_FOUND))
async def calendar_year(
    year: Year, session: DbSession, principal: CurrentPrincipal, calendar: Calendar
) -> dict[str, Any]:
    return await service.calendar_year(session, calendar, year)


@router.put(
    "/calendar/{year}",
    response_model=CalendarLoaded,
    responses=_raises(
        errors.CALENDAR_YEAR_OFFICIAL, also=[ROLE_REQUIRED, errors.SCHEDULE_INVALID_TEXT]
    ),
)
async def load_year(
    year: Year,
    body: CalendarLoad,
    session: DbSession,
    principal: Admin,
    clock: RequestClock,
    calendar: Calendar,
) -> dict[str, Any]:
    """Load a year's official schedule (State Council notice) that the library lacks;
    every open obligation it sets or moves is recomputed and listed."""
    row, recomputed = await service.load_year(session, principal, year, body, calendar, clock)
    holidays, adjusted = sorted(body.holidays), sorted(body.workdays)
    return {
        **views.calendar_out(year, "loaded", row.source or None, holidays, adjusted),
        "version": row.version,
        "recomputed": recomputed,
    }
