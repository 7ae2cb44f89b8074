"""Exception handlers: every error leaves the service as RFC 9457 problem+json."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match, Mount

from shared.errors import PROBLEM_JSON, GovitError, Violation, clip

log = logging.getLogger(__name__)
_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}


def problem_response(request: Request, error: GovitError) -> JSONResponse:
    return JSONResponse(
        error.problem(instance=request.url.path),
        status_code=error.status,
        media_type=PROBLEM_JSON,
        headers=error.headers or None,
    )


# A 422 lists at most this many errors (plus ``error_count``, the total): a body of
# 60,000 unknown keys must not be answered with 16 MB.
MAX_ERRORS = 50
_MAX_LOCATION_CHARS = 256
_MAX_MESSAGE_CHARS = 300


def _location(loc: tuple[Any, ...] | list[Any]) -> str:
    # Each part is echoed input (a key name may be 1 MB long): bound it, and the whole.
    return clip(".".join(clip(str(part)) for part in loc), _MAX_LOCATION_CHARS)


def validation_error(exc: RequestValidationError) -> GovitError:
    found = exc.errors()
    errors = [
        {
            "loc": _location(e.get("loc", ())),
            "message": clip(str(e.get("msg", "")), _MAX_MESSAGE_CHARS),
            "type": e.get("type"),
        }
        for e in found[:MAX_ERRORS]
    ]
    more = len(found) - len(errors)
    return GovitError(
        422,
        "validation_failed",
        "the request does not match the schema: "
        + "; ".join(f"{e['loc']}: {e['message']}" for e in errors[:5])
        + (f" (and {len(found) - 5} more)" if len(found) > 5 else ""),
        violations=[
            Violation(
                rule=f"schema:{e['loc']}",
                message_zh=f"字段 {e['loc']} 不符合要求：{e['message']}",
                message_en=f"{e['loc']}: {e['message']}",
            )
            for e in errors
        ],
        # ``errors`` holds the first MAX_ERRORS; ``error_count`` says how many there were.
        extra={"errors": errors, "error_count": len(found), "errors_truncated": more > 0},
    )


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _allowed_methods(request: Request) -> str:
    """Every method some route of the app takes on this path (RFC 9110 §15.5.6).

    Starlette's 405 names only the first route whose path matched, so a path with
    a GET and a PATCH route said ``Allow: GET``. Each method is tried against the
    routes' public ``matches`` (included routers answer it for their own routes); a
    mounted app (static files) speaks for itself.
    """
    routes = [r for r in request.app.router.routes if not isinstance(r, Mount)]
    return ", ".join(
        method
        for method in _METHODS
        if any(r.matches({**request.scope, "method": method})[0] is Match.FULL for r in routes)
    )


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(GovitError)
    async def _govit(request: Request, exc: GovitError) -> JSONResponse:
        return problem_response(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return problem_response(request, validation_error(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        error = GovitError(exc.status_code, code, str(exc.detail))
        error.headers.update(exc.headers or {})
        if exc.status_code == 405 and (allowed := _allowed_methods(request)):
            error.headers["Allow"] = allowed
        return problem_response(request, error)

    @app.exception_handler(OperationalError)
    async def _db_down(request: Request, exc: OperationalError) -> JSONResponse:
        log.error("database unavailable", exc_info=exc)
        return problem_response(
            request, GovitError(503, "database_unavailable", "the database is unavailable")
        )

    @app.exception_handler(DBAPIError)
    async def _db_error(request: Request, exc: DBAPIError) -> JSONResponse:
        log.error("database error", exc_info=exc)
        return problem_response(
            request, GovitError(500, "internal_error", "the request could not be completed")
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled error", exc_info=exc)
        return problem_response(
            request, GovitError(500, "internal_error", "the request could not be completed")
        )
