"""HTTP routes (API.md "Registry"): parse, authorise, call ``service``, shape the answer.

Each route is thin: the request's session (one commit point), the verified
principal and the clock come in as dependencies; errors are raised, never built.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Annotated, Any, Literal

from fastapi import Depends, Header, Query, Request, Response
from fastapi.responses import StreamingResponse

from services.registry import errors, imports, service, views
from services.registry.models import idempotency_keys
from services.registry.schemas import (
    ComplianceOut,
    History,
    ImportResult,
    ImportStatus,
    ResourceCreate,
    ResourceList,
    ResourceOut,
    SystemCreate,
    SystemFilters,
    SystemOut,
    SystemPage,
    SystemPatch,
    UnitCreate,
    UnitList,
    UnitOut,
)
from services.registry.spreadsheets import CSV_MEDIA_TYPE, XLSX_MEDIA_TYPE
from shared import pagination
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
from shared.openapi import problem_responses
from shared.policy.rules import ProfileId
from shared.route_errors import Raises
from shared.routing import Admin, api_router
from shared.spreadsheets import stream_file

# Every route: a token whose jurisdiction is not its unit's is refused (403).
router = api_router("registry", check_caller=service.check_caller)
UnitOrAdmin = Annotated[Principal, Depends(require_roles(Role.UNIT, Role.ADMIN))]
# POSTs that change state replay their first answer per Idempotency-Key (API.md).
Idempotent = idempotent(idempotency_keys)
MAX_IMPORT_BYTES = 20 * 1024 * 1024  # API.md: imports up to 20 MiB


class ListQuery(SystemFilters):
    limit: int = Query(50, ge=1, le=service.MAX_PAGE)
    cursor: str | None = Query(None, max_length=64)


# The read path: the query string in one validation (FastAPI's own parsing of a query
# model cost more than the page's SQL); documented as FastAPI documents ``Query()``.
_list_query = pagination.query_model(ListQuery)


class ExportQuery(SystemFilters):
    format: Literal["csv", "xlsx"] = "csv"


# Every route: a token whose jurisdiction is not its unit's (shared.auth.home), and
# a request the schema refuses. Idempotent POSTs add the kit's Idempotency-Key codes.
# Each route's problem responses name the codes behind each status (``errors.py``
# declares the registry's; the app factory adds 401, 400/413 and 5XX).
_raises = Raises(TOKEN_JURISDICTION_MISMATCH, VALIDATION_FAILED)


def _json_example(body: dict[str, object]) -> dict[str, object]:
    """``openapi_extra`` giving a route's JSON body an example (Swagger UI, clients)."""
    return {"requestBody": {"content": {"application/json": {"example": body}}}}


# --- units --------------------------------------------------------------------------


@router.post(
    "/units",
    status_code=201,
    response_model=UnitOut,
    responses=_raises(
        errors.JURISDICTION_NOT_PERMITTED,
        errors.UNIT_NAME_TAKEN,
        errors.PARENT_UNKNOWN,
        errors.PARENT_JURISDICTION_DIFFERS,
        also=[ROLE_REQUIRED, IDEMPOTENCY_KEY],
    ),
    dependencies=[Idempotent],
    openapi_extra=_json_example({"name": "临汾市水务局", "jurisdiction": "linfen-water"}),
)
async def register_unit(
    body: UnitCreate, session: DbSession, principal: Admin, clock: RequestClock
) -> dict[str, object]:
    return views.unit_out(await service.register_unit(session, principal, body, clock.now()))


@router.get("/units", response_model=UnitList, responses=_raises())
async def list_units(
    session: DbSession, principal: CurrentPrincipal, jurisdiction: ProfileId | None = None
) -> dict[str, object]:
    units = await service.list_units(session, principal, jurisdiction)
    return {"items": [views.unit_out(u) for u in units]}


@router.get("/units/{unit_id}", response_model=UnitOut, responses=_raises(errors.NOT_FOUND))
async def get_unit(
    unit_id: uuid.UUID, session: DbSession, principal: CurrentPrincipal
) -> dict[str, object]:
    return views.unit_out(await service.get_unit(session, principal, unit_id))


# --- systems ------------------------------------------------------------------------


@router.post(
    "/systems",
    status_code=201,
    response_model=SystemOut,
    responses=_raises(
        errors.FORBIDDEN,
        errors.JURISDICTION_NOT_PERMITTED,
        errors.UNIT_UNKNOWN,
        errors.CATALOGUE_ENTRY_REFUSED,
        also=[IDEMPOTENCY_KEY],
    ),
    dependencies=[Idempotent],
)
async def register_system(
    body: SystemCreate, session: DbSession, principal: CurrentPrincipal, clock: RequestClock
) -> dict[str, object]:
    system = await service.register_system(session, principal, body, clock.now())
    return views.system_out(system)


@router.get(
    "/systems",
    response_model=SystemPage,
    responses=_raises(also=[CURSOR_INVALID]),
    openapi_extra=pagination.query_parameters(ListQuery),
)
async def list_systems(
    query: Annotated[ListQuery, Depends(_list_query)],
    session: DbSession,
    principal: CurrentPrincipal,
) -> Response:
    systems, next_cursor = await service.list_systems(
        session, principal, query, query.limit, query.cursor
    )
    # The read path: rows read once (asyncpg records), shaped once (views), serialised
    # once (no validation against ``SystemPage``, which ``response_model`` documents).
    return pagination.page_response([views.system_out(s) for s in systems], next_cursor)


_IMPORT_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "The catalogue: CSV (UTF-8, UTF-16 with a BOM, or GB18030; header row)"
        " or XLSX (first sheet), as multipart field `file` or as the raw body. At most"
        " 100,000 rows and 20 MiB. In CSV a leading apostrophe is an escape: `'=x` reads"
        " `=x`, `''x` reads `'x` (exports write text that starts like a formula so).",
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary"}},
                }
            },
            "text/csv": {"schema": {"type": "string"}},
            XLSX_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}},
        },
    }
}
_EXPORT_FILE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The catalogue file (`format=csv` or `xlsx`), streamed. CSV cells"
        " that start like a formula (= + - @ tab CR, full-width too) or with an"
        " apostrophe carry a leading apostrophe; XLSX cells are text cells.",
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            XLSX_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}},
        },
    }
}
_BUSY = {
    429: "You already have two imports or exports running (`too_many_heavy_requests`);"
    " see Retry-After.",
    503: "Too many imports and exports are running (`heavy_work_busy`), or the import did"
    " not finish within its deadline and nothing was stored (`import_deadline_exceeded`);"
    " see Retry-After.",
}


_QUEUED: dict[int | str, dict[str, Any]] = {
    202: {
        "description": "Sent with `Prefer: respond-async`: the file is stored and queued,"
        " and nothing is checked beyond its size and your role yet. Read the outcome at"
        " `Location` (`GET /api/v1/imports/{id}`): `done` with `imported`, or `refused`"
        " with `errors` (the rows' errors as a 422 would list them) and nothing stored.",
        "model": ImportStatus,
        "headers": {
            "Location": {
                "description": "The import's status: `/api/v1/imports/{id}`.",
                "schema": {"type": "string"},
            },
            "Preference-Applied": {
                "description": "`respond-async` (RFC 7240).",
                "schema": {"type": "string"},
            },
        },
    }
}
RESPOND_ASYNC = "respond-async"


@router.post(
    "/systems:import",
    status_code=201,
    response_model=ImportResult,
    dependencies=[Idempotent],
    openapi_extra=_IMPORT_BODY,
    responses={
        **_QUEUED,
        **problem_responses(
            403,
            409,
            413,
            422,
            429,
            503,
            described={
                413: "Over 20 MiB, over 100,000 rows, or a sheet wider or longer than a"
                " catalogue (`payload_too_large`, `too_many_rows`, `too_many_columns`,"
                " `archive_too_large`, `shared_strings_too_large`, `cell_too_long`).",
                422: "Bad rows (`import_invalid`: `errors` with `row`, `column`, `message`,"
                " `message_zh`), nothing stored; or `file_missing`.",
                **_BUSY,
            },
        ),
    },
)
async def import_systems(
    request: Request,
    session: DbSession,
    principal: UnitOrAdmin,
    clock: RequestClock,
    prefer: Annotated[
        str | None,
        Header(
            alias="Prefer",
            description="`respond-async` (RFC 7240): answer 202 at once and import in the"
            " background (for a file that may not finish within the gateway's time"
            " limit); without it the import finishes inside the request (201 or 422).",
            examples=[RESPOND_ASYNC],
        ),
    ] = None,
) -> dict[str, Any] | Response:
    async with imports.HEAVY.slot(_caller(principal)):
        data = await _upload(request)
        if _prefers_async(prefer):
            queued = await imports.queue_import(session, principal, data, clock.now())
            headers = {
                "Location": f"{IMPORTS_PATH}/{queued['id']}",
                "Preference-Applied": RESPOND_ASYNC,
            }
            body = pagination.json_bytes(views.import_out(queued))
            return Response(body, status_code=202, media_type="application/json", headers=headers)
        try:
            async with asyncio.timeout(imports.IMPORT_DEADLINE_SECONDS):
                return await imports.import_file(session, principal, data, clock.now())
        except TimeoutError:
            # Raised through the request's session, which rolls back: nothing is stored.
            raise errors.import_deadline_exceeded(imports.IMPORT_DEADLINE_SECONDS) from None


IMPORTS_PATH = f"{router.prefix}/imports"


def _prefers_async(prefer: str | None) -> bool:
    """Whether a ``Prefer`` header (RFC 7240: comma-separated, each ``name[=value][;...]``)
    asks for ``respond-async``."""
    return any(
        p.split(";", 1)[0].split("=", 1)[0].strip().lower() == RESPOND_ASYNC
        for p in (prefer or "").split(",")
    )


@router.get(
    "/imports/{import_id}",
    response_model=ImportStatus,
    responses=_raises(errors.NOT_FOUND),
)
async def get_import(
    import_id: uuid.UUID, session: DbSession, principal: CurrentPrincipal
) -> Response:
    """A background import: its unit's callers and its jurisdiction's admin read it;
    for anyone else it does not exist (404)."""
    found = await imports.get_import(session, principal, import_id)
    return Response(pagination.json_bytes(views.import_out(found)), media_type="application/json")


@router.get(
    "/systems:export",
    response_class=StreamingResponse,
    responses={**_EXPORT_FILE, **problem_responses(422, 429, 503, described=_BUSY)},
)
async def export_systems(
    query: Annotated[ExportQuery, Query()], session: DbSession, principal: CurrentPrincipal
) -> StreamingResponse:
    async with imports.HEAVY.slot(_caller(principal)):
        file = await imports.export_file(session, principal, query, query.format)
    media_type = XLSX_MEDIA_TYPE if query.format == "xlsx" else CSV_MEDIA_TYPE
    disposition = f'attachment; filename="systems.{query.format}"'
    return StreamingResponse(
        stream_file(file), media_type=media_type, headers={"Content-Disposition": disposition}
    )


def _caller(principal: Principal) -> str:
    return f"{principal.org}/{principal.sub}"


@router.get("/systems/{system_id}", response_model=SystemOut, responses=_raises(errors.NOT_FOUND))
async def get_system(
    system_id: uuid.UUID, session: DbSession, principal: CurrentPrincipal
) -> dict[str, object]:
    return views.system_out(await service.get_system(session, principal, system_id))


@router.patch(
    "/systems/{system_id}",
    response_model=SystemOut,
    responses=_raises(
        errors.FORBIDDEN,
        errors.FIELD_NOT_PERMITTED,
        errors.SCOPE_REQUIRED,
        errors.NOT_FOUND,
        errors.SYSTEM_RETIRED,
        errors.STATUS_TRANSITION_INVALID,
        errors.CATALOGUE_ENTRY_REFUSED,
    ),
    openapi_extra=_json_example({"cloud": "on_cloud", "mlps_level": 3}),
)
async def update_system(
    system_id: uuid.UUID,
    patch: SystemPatch,
    session: DbSession,
    principal: CurrentPrincipal,
    clock: RequestClock,
) -> dict[str, object]:
    changes = patch.changes()
    system = await service.update_system(session, principal, system_id, changes, clock.now())
    return views.system_out(system)


@router.post(
    "/systems/{system_id}/resources",
    status_code=201,
    response_model=ResourceOut,
    responses=_raises(
        errors.FORBIDDEN, errors.NOT_FOUND, errors.SYSTEM_RETIRED, also=[IDEMPOTENCY_KEY]
    ),
    dependencies=[Idempotent],
    openapi_extra=_json_example(
        {
            "name": "水位监测数据",
            "source": "水文站自动监测",
            "format": "JSON",
            "update_frequency": "每小时",
            "share_type": "conditional",
            "open_type": "none",
        }
    ),
)
async def add_resource(
    system_id: uuid.UUID,
    body: ResourceCreate,
    session: DbSession,
    principal: CurrentPrincipal,
    clock: RequestClock,
) -> dict[str, object]:
    resource = await service.add_resource(session, principal, system_id, body, clock.now())
    return views.resource_out(resource)


@router.get(
    "/systems/{system_id}/resources",
    response_model=ResourceList,
    responses=_raises(errors.NOT_FOUND),
)
async def list_resources(
    system_id: uuid.UUID, session: DbSession, principal: CurrentPrincipal
) -> dict[str, object]:
    resources = await service.list_resources(session, principal, system_id)
    return {"items": [views.resource_out(r) for r in resources]}


@router.get(
    "/systems/{system_id}/history", response_model=History, responses=_raises(errors.NOT_FOUND)
)
async def system_history(
    system_id: uuid.UUID, session: DbSession, principal: CurrentPrincipal
) -> dict[str, object]:
    return {"items": await service.history(session, principal, system_id)}


@router.get(
    "/systems/{system_id}/compliance",
    response_model=ComplianceOut,
    responses=_raises(errors.NOT_FOUND),
)
async def system_compliance(
    system_id: uuid.UUID, session: DbSession, principal: CurrentPrincipal
) -> dict[str, object]:
    system, violations = await service.compliance(session, principal, system_id)
    return views.compliance_out(system, violations)


async def _upload(request: Request) -> bytes:
    """The catalogue file: multipart field ``file`` or the raw body (CSV or XLSX).

    The 20 MiB limit is enforced while the body is read (``shared.body_limit``).
    """
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        form = await request.form(max_files=1, max_fields=5)
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise errors.FILE_MISSING.error("send the catalogue as multipart field `file`")
        return await upload.read()
    return await request.body()
