"""HTTP routes (API.md "Funding"): parse, authorise, call one use case, shape the answer."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Any

from fastapi import Depends, Query, Request, Response
from pydantic import BaseModel
from pydantic_core import to_json

from services.funding import domain, errors, service
from services.funding.models import idempotency_keys
from services.funding.schemas import (
    DisbursementCreate,
    DisbursementOut,
    MovementPage,
    NoticeSettingIn,
    NoticeSettingOut,
    PlanCreate,
    PlanOut,
    ProjectMoneyOut,
    ReturnCreate,
    WhatIfOut,
)
from shared.app import DbSession, RequestClock
from shared.auth import CurrentPrincipal, Principal, Role, require_roles
from shared.calendar import WorkdayCalendar, load_calendar
from shared.codes import CURSOR_INVALID, IDEMPOTENCY_KEY, ROLE_REQUIRED, VALIDATION_FAILED
from shared.errors import GovitError
from shared.idempotency import HEADER, idempotent
from shared.pagination import page_response, query_model, query_parameters
from shared.policy.rules import ProfileId
from shared.route_errors import Raises
from shared.routing import Admin, Finance, api_router

router = api_router("funding")
AdminOrFinance = Annotated[Principal, Depends(require_roles(Role.ADMIN, Role.FINANCE))]
Idempotent = idempotent(idempotency_keys)
MAX_PAGE = 200

_KEY_REQUIRED = {422: f"`idempotency_key_required`: money moves only with an {HEADER} header."}
_CALENDAR = {
    422: "`calendar_year_unknown`: the working-day calendar does not know that year yet;"
    " `no_profile_in_force`: the jurisdiction's regulation was not yet in force that day.",
}

_raises = Raises(VALIDATION_FAILED)


def _json(answer: object, status_code: int = 200) -> Response:
    # Shaped by the service once, serialised once (the response_model documents it).
    return Response(to_json(answer), status_code=status_code, media_type="application/json")


def _settings_notice(request: Request) -> int:
    workdays: int = request.app.state.settings.public_notice_workdays
    return workdays


def _calendar(request: Request) -> WorkdayCalendar:
    return load_calendar(request.app.state.settings)


DefaultNotice = Annotated[int, Depends(_settings_notice)]
BaseCalendar = Annotated[WorkdayCalendar, Depends(_calendar)]


async def _key_required(request: Request) -> None:
    if HEADER not in request.headers:
        raise GovitError(
            422,
            "idempotency_key_required",
            f"a disbursement moves money: send an {HEADER} header, and the same one on a retry",
        )


# --- the money view and what-if ------------------------------------------------------------


@router.get(
    "/funding/projects/{project_id}",
    response_model=ProjectMoneyOut,
    responses=_raises(errors.NOT_FOUND),
)
async def project_money(
    project_id: uuid.UUID, session: DbSession, principal: CurrentPrincipal, clock: RequestClock
) -> Response:
    view = await service.money_view(session, principal, project_id, clock.today())
    return _json(view)


@router.get(
    "/funding/projects/{project_id}/what-if",
    response_model=WhatIfOut,
    responses=_raises(errors.NOT_FOUND, also=[_CALENDAR]),
)
async def what_if(
    project_id: uuid.UUID,
    session: DbSession,
    principal: CurrentPrincipal,
    clock: RequestClock,
    base: BaseCalendar,
    acceptance_filed_on: Annotated[date | None, Query()] = None,
    passed: Annotated[bool, Query()] = True,
    accepted_on: Annotated[
        date | None, Query(description="The acceptance day: the report's deadline counts from it")
    ] = None,
    contract_filed_on: Annotated[date | None, Query()] = None,
    supervisor_filed_on: Annotated[date | None, Query()] = None,
) -> Response:
    scenario = domain.Scenario(
        acceptance_filed_on=acceptance_filed_on,
        passed=passed,
        accepted_on=accepted_on,
        contract_filed_on=contract_filed_on,
        supervisor_filed_on=supervisor_filed_on,
    )
    for day in (acceptance_filed_on, accepted_on, contract_filed_on, supervisor_filed_on):
        if day is not None and not 2000 <= day.year <= 2100:
            raise errors.DATE_OUT_OF_RANGE.error(f"{day} is outside 2000-2100")
    answer = await service.what_if(session, principal, project_id, scenario, base, clock.today())
    return _json(answer)


# --- allocation plans --------------------------------------------------------------------------


@router.post(
    "/allocation-plans",
    status_code=201,
    response_model=PlanOut,
    responses=_raises(
        errors.PROJECT_UNKNOWN,
        errors.PROJECT_NOT_APPROVED,
        errors.YEAR_OUTSIDE_BUDGET,
        errors.ALLOCATION_EXCEEDS_BUDGET,
        also=[ROLE_REQUIRED, IDEMPOTENCY_KEY, _CALENDAR],
    ),
    dependencies=[Idempotent],
)
async def create_plan(
    body: PlanCreate,
    session: DbSession,
    principal: Finance,
    clock: RequestClock,
    default_notice: DefaultNotice,
    base: BaseCalendar,
) -> Response:
    if body.published_on is not None and not 2000 <= body.published_on.year <= 2100:
        raise errors.DATE_OUT_OF_RANGE.error(f"{body.published_on} is outside 2000-2100")
    plan = await service.create_plan(
        session,
        principal,
        body,
        default_notice=default_notice,
        base_calendar=base,
        now=clock.now(),
        today=clock.today(),
    )
    return _json(plan, status_code=201)


# --- disbursements and returns -------------------------------------------------------------------


@router.post(
    "/disbursements",
    status_code=201,
    response_model=DisbursementOut,
    responses=_raises(
        errors.NOT_FOUND,
        errors.YEAR_OUTSIDE_BUDGET,
        errors.DISBURSEMENT_REFUSED,
        also=[ROLE_REQUIRED, IDEMPOTENCY_KEY, _KEY_REQUIRED],
    ),
    dependencies=[Depends(_key_required), Idempotent],
)
async def disburse(
    body: DisbursementCreate, session: DbSession, principal: Finance, clock: RequestClock
) -> Response:
    made = await service.disburse(session, principal, body, clock.now(), clock.today())
    return _json(made, status_code=201)


class MovementQuery(BaseModel):
    project_id: uuid.UUID | None = None
    limit: int = Query(50, ge=1, le=MAX_PAGE)
    cursor: str | None = Query(None, max_length=512)


_movement_query = query_model(MovementQuery)  # the read path: one validation


@router.get(
    "/disbursements",
    response_model=MovementPage,
    responses=_raises(also=[CURSOR_INVALID]),
    openapi_extra=query_parameters(MovementQuery),
)
async def list_disbursements(
    query: Annotated[MovementQuery, Depends(_movement_query)],
    session: DbSession,
    principal: CurrentPrincipal,
) -> Response:
    page = await service.list_movements(
        session, principal, query.project_id, query.limit, query.cursor
    )
    return page_response(page["items"], page["next_cursor"])


@router.post(
    "/funding/returns",
    status_code=201,
    response_model=DisbursementOut,
    responses=_raises(
        errors.NOT_FOUND, errors.RETURN_REFUSED, also=[ROLE_REQUIRED, IDEMPOTENCY_KEY]
    ),
    dependencies=[Idempotent],
)
async def return_surplus(
    body: ReturnCreate, session: DbSession, principal: Finance, clock: RequestClock
) -> Response:
    made = await service.return_surplus(session, principal, body, clock.now())
    return _json(made, status_code=201)


# --- the public-notice setting ----------------------------------------------------------------


@router.get(
    "/funding/notice-settings/{profile}",
    response_model=NoticeSettingOut,
    responses=_raises(errors.NOT_FOUND, also=[ROLE_REQUIRED]),
)
async def notice_setting(
    profile: ProfileId, session: DbSession, principal: AdminOrFinance, default: DefaultNotice
) -> dict[str, Any]:
    return await service.notice_setting(session, principal, profile, default)


@router.put(
    "/funding/notice-settings/{profile}",
    response_model=NoticeSettingOut,
    responses=_raises(errors.PROFILE_MISMATCH, also=[ROLE_REQUIRED]),
)
async def set_notice_setting(
    profile: ProfileId,
    body: NoticeSettingIn,
    session: DbSession,
    principal: Admin,
    clock: RequestClock,
    default: DefaultNotice,
) -> dict[str, Any]:
    return await service.set_notice_setting(
        session, principal, profile, body.workdays, clock.now(), default
    )
