"""HTTP routes (API.md "Approval"): parse, call one use case, shape the answer.

Each route is thin: the request's session (one commit point), the verified principal
and the clock come in as dependencies; errors are raised, never built.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Annotated, Any, Literal

from fastapi import Depends, Query, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from services.approval import errors, service, views
from services.approval.models import idempotency_keys
from services.approval.schemas import (
    ChangeCreate,
    ChangeDecisionCreate,
    ChangeOut,
    DecisionCreate,
    History,
    MaterialCreate,
    MaterialOut,
    OpinionCreate,
    OpinionOut,
    ProjectCreate,
    ProjectDetail,
    ProjectFilters,
    ProjectOut,
    ProjectPage,
    ReviewCreate,
    ReviewOut,
    SubmitOut,
    TerminateCreate,
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
from shared.route_errors import Raises
from shared.routing import Authority, api_router
from shared.spreadsheets import XLSX_MEDIA_TYPE, write_csv, write_xlsx

# Every route: a token whose unit lies in another jurisdiction is refused (403).
router = api_router("approval", check_caller=service.check_caller)
Idempotent = idempotent(idempotency_keys)
Reviewer = Annotated[Principal, Depends(require_roles(Role.REVIEWER, Role.AUTHORITY))]
CSV_MEDIA_TYPE = "text/csv; charset=utf-8"


_raises = Raises(TOKEN_JURISDICTION_MISMATCH, VALIDATION_FAILED)


class ListQuery(ProjectFilters):
    limit: int = Query(50, ge=1, le=service.MAX_PAGE)
    cursor: str | None = Query(None, max_length=512)


class ExportQuery(BaseModel):
    year: int = Query(ge=2000, le=2100)
    format: Literal["csv", "xlsx"] = "csv"


# --- projects ---------------------------------------------------------------------------


@router.post(
    "/projects",
    status_code=201,
    response_model=ProjectOut,
    responses=_raises(
        errors.FORBIDDEN,
        errors.UNIT_UNKNOWN,
        errors.CO_ORG_INVALID,
        errors.SYSTEM_NOT_PERMITTED,
        errors.BUDGETS_INVALID,
        also=[IDEMPOTENCY_KEY],
    ),
    dependencies=[Idempotent],
)
async def create_project(
    body: ProjectCreate, session: DbSession, principal: CurrentPrincipal, clock: RequestClock
) -> dict[str, object]:
    project = await service.create_project(session, principal, body, clock.now(), clock.today())
    return views.project_out(project)


# The read path: the query string in one validation, documented as FastAPI documents
# ``Query()`` (docs/services.md "A fast read path").
_list_query = query_model(ListQuery)


@router.get(
    "/projects",
    response_model=ProjectPage,
    responses=_raises(also=[CURSOR_INVALID]),
    openapi_extra=query_parameters(ListQuery),
)
async def list_projects(
    query: Annotated[ListQuery, Depends(_list_query)],
    session: DbSession,
    principal: CurrentPrincipal,
) -> Response:
    rows, next_cursor = await service.list_projects(
        session, principal, query, query.limit, query.cursor
    )
    return page_response([views.project_out(r) for r in rows], next_cursor)


_EXPORT_FILE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The annual project list (leshan:17): every project approved that"
        " year, with number, unit and totals (`format=csv` or `xlsx`).",
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            XLSX_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


@router.get(
    "/projects:export",
    response_class=StreamingResponse,
    responses={**_EXPORT_FILE, **_raises()},
)
async def export_projects(
    query: Annotated[ExportQuery, Query()], session: DbSession, principal: CurrentPrincipal
) -> StreamingResponse:
    rows = await service.export_rows(session, principal, query.year)
    if query.format == "xlsx":
        data = await asyncio.to_thread(write_xlsx, views.EXPORT_COLUMNS, rows, "projects")
        media_type = XLSX_MEDIA_TYPE
    else:
        data = await asyncio.to_thread(write_csv, views.EXPORT_COLUMNS, rows)
        media_type = CSV_MEDIA_TYPE
    disposition = f'attachment; filename="projects-{query.year}.{query.format}"'
    return StreamingResponse(
        iter([data]), media_type=media_type, headers={"Content-Disposition": disposition}
    )


@router.get(
    "/projects/{project_id}", response_model=ProjectDetail, responses=_raises(errors.NOT_FOUND)
)
async def get_project(
    project_id: uuid.UUID, session: DbSession, principal: CurrentPrincipal
) -> dict[str, object]:
    return await service.project_detail(session, principal, project_id)


@router.get(
    "/projects/{project_id}/history", response_model=History, responses=_raises(errors.NOT_FOUND)
)
async def project_history(
    project_id: uuid.UUID, session: DbSession, principal: CurrentPrincipal
) -> dict[str, object]:
    return {"items": await service.history(session, principal, project_id)}


@router.post(
    "/projects/{project_id}/materials",
    status_code=201,
    response_model=MaterialOut,
    responses=_raises(
        errors.FORBIDDEN,
        errors.NOT_FOUND,
        errors.STATUS_TRANSITION_INVALID,
        also=[IDEMPOTENCY_KEY],
    ),
    dependencies=[Idempotent],
)
async def add_material(
    project_id: uuid.UUID,
    body: MaterialCreate,
    session: DbSession,
    principal: CurrentPrincipal,
    clock: RequestClock,
) -> dict[str, object]:
    material = await service.add_material(session, principal, project_id, body, clock.now())
    return views.material_out(material)


@router.post(
    "/projects/{project_id}/submit",
    response_model=SubmitOut,
    responses=_raises(
        errors.FORBIDDEN,
        errors.NOT_FOUND,
        errors.STATUS_TRANSITION_INVALID,
        errors.PRESCREEN_FAILED,
        also=[IDEMPOTENCY_KEY],
    ),
    dependencies=[Idempotent],
)
async def submit(
    project_id: uuid.UUID, session: DbSession, principal: CurrentPrincipal, clock: RequestClock
) -> dict[str, object]:
    project = await service.submit(session, principal, project_id, clock.now(), clock.today())
    return {"id": project.id, "status": project.status, "version": project.version}


@router.post(
    "/projects/{project_id}/opinions",
    status_code=201,
    response_model=OpinionOut,
    responses=_raises(
        errors.NOT_FOUND, errors.STATUS_TRANSITION_INVALID, also=[ROLE_REQUIRED, IDEMPOTENCY_KEY]
    ),
    dependencies=[Idempotent],
)
async def add_opinion(
    project_id: uuid.UUID,
    body: OpinionCreate,
    session: DbSession,
    principal: Reviewer,
    clock: RequestClock,
) -> dict[str, object]:
    opinion = await service.add_opinion(session, principal, project_id, body, clock.now())
    return views.opinion_out(opinion)


@router.post(
    "/projects/{project_id}/reviews",
    status_code=201,
    response_model=ReviewOut,
    responses=_raises(
        errors.NOT_FOUND, errors.STATUS_TRANSITION_INVALID, also=[ROLE_REQUIRED, IDEMPOTENCY_KEY]
    ),
    dependencies=[Idempotent],
)
async def add_review(
    project_id: uuid.UUID,
    body: ReviewCreate,
    session: DbSession,
    principal: Authority,
    clock: RequestClock,
) -> dict[str, object]:
    review = await service.add_review(session, principal, project_id, body, clock.now())
    return views.review_out(review)


@router.post(
    "/projects/{project_id}/decision",
    response_model=ProjectOut,
    responses=_raises(
        errors.NOT_FOUND,
        errors.STATUS_TRANSITION_INVALID,
        errors.OPINION_MISSING,
        errors.DECISION_INVALID,
        also=[ROLE_REQUIRED, IDEMPOTENCY_KEY],
    ),
    dependencies=[Idempotent],
)
async def decide(
    project_id: uuid.UUID,
    body: DecisionCreate,
    session: DbSession,
    principal: Authority,
    clock: RequestClock,
) -> dict[str, object]:
    project = await service.decide(session, principal, project_id, body, clock.now(), clock.today())
    return views.project_out(project)


@router.post(
    "/projects/{project_id}/changes",
    status_code=201,
    response_model=ChangeOut,
    responses=_raises(
        errors.FORBIDDEN,
        errors.NOT_FOUND,
        errors.STATUS_TRANSITION_INVALID,
        errors.CHANGE_REFUSED,
        also=[IDEMPOTENCY_KEY],
    ),
    dependencies=[Idempotent],
)
async def request_change(
    project_id: uuid.UUID,
    body: ChangeCreate,
    session: DbSession,
    principal: CurrentPrincipal,
    clock: RequestClock,
) -> dict[str, object]:
    change = await service.request_change(session, principal, project_id, body, clock.now())
    return views.change_out(change)


@router.post(
    "/projects/{project_id}/changes/{change_id}/decision",
    response_model=ChangeOut,
    responses=_raises(
        errors.NOT_FOUND,
        errors.CHANGE_NOT_PENDING,
        errors.STATUS_TRANSITION_INVALID,
        also=[ROLE_REQUIRED, IDEMPOTENCY_KEY],
    ),
    dependencies=[Idempotent],
)
async def decide_change(
    project_id: uuid.UUID,
    change_id: uuid.UUID,
    body: ChangeDecisionCreate,
    session: DbSession,
    principal: Authority,
    clock: RequestClock,
) -> dict[str, object]:
    change = await service.decide_change(
        session, principal, project_id, change_id, body, clock.now()
    )
    return views.change_out(change)


@router.post(
    "/projects/{project_id}/terminate",
    response_model=ProjectOut,
    responses=_raises(
        errors.NOT_FOUND, errors.STATUS_TRANSITION_INVALID, also=[ROLE_REQUIRED, IDEMPOTENCY_KEY]
    ),
    dependencies=[Idempotent],
)
async def terminate(
    project_id: uuid.UUID,
    body: TerminateCreate,
    session: DbSession,
    principal: Authority,
    clock: RequestClock,
) -> dict[str, object]:
    project = await service.terminate(session, principal, project_id, body, clock.now())
    return views.project_out(project)
