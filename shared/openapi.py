"""An OpenAPI document that says what the services really answer.

Every error leaves a service as RFC 9457 problem+json (``shared.problems``), so
the document describes that shape once (``Problem``) and every operation points
its error answers at it:

* a route declares the errors it raises itself with ``problem_responses``::

      @router.get("/systems/{id}", responses=problem_responses(403, 404))

* ``install_openapi`` (called by the app factory) adds what every route of a
  kind answers, so no route can forget it: 401 where a bearer token is required
  (and the ``bearer`` security scheme), 400 and 413 where a body is read, 5XX
  (database unavailable, internal error) everywhere, and FastAPI's own 422 —
  which the app answers as problem+json, not as ``HTTPValidationError``.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.routing import BaseRoute

from shared.auth.dependencies import current_principal
from shared.errors import PROBLEM_JSON

_SCHEMAS = "#/components/schemas/"
PROBLEM_REF = {"$ref": f"{_SCHEMAS}Problem"}
# The gateway's merged document uses the same scheme under the same name.
BEARER = {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}

# What ``GovitError.problem`` emits. Extension members are open (RFC 9457 §3.2):
# the known ones are listed so generated clients get typed fields for them.
PROBLEM_SCHEMAS: dict[str, dict[str, Any]] = {
    "Problem": {
        "title": "Problem",
        "description": (
            "RFC 9457 problem details. Switch on `code` (stable), not on `title` or `detail`."
        ),
        "type": "object",
        "required": ["type", "title", "status", "code", "detail"],
        "properties": {
            "type": {
                "type": "string",
                "description": "A URI naming the problem: https://govit.example/problems/{code}.",
            },
            "title": {"type": "string", "description": "The HTTP status phrase."},
            "status": {"type": "integer", "minimum": 400, "maximum": 599},
            "code": {
                "type": "string",
                "description": "Stable machine-readable code (e.g. `not_found`, "
                "`validation_failed`, `role_required`).",
            },
            "detail": {"type": "string", "description": "What went wrong, for a human."},
            "instance": {"type": "string", "description": "The request path."},
            "violations": {
                "type": "array",
                "description": "Rules that refused the request, each citing its regulation.",
                "items": {"$ref": f"{_SCHEMAS}ProblemViolation"},
            },
            "errors": {
                "type": "array",
                "description": "Field errors (`loc`) or spreadsheet cell errors (`row`, `column`).",
                "items": {"$ref": f"{_SCHEMAS}ProblemError"},
            },
            "error_count": {
                "type": "integer",
                "description": "How many errors there were when `errors` lists only the first.",
            },
            "errors_truncated": {"type": "boolean"},
            "message_zh": {"type": "string", "description": "What went wrong, in Chinese."},
            "message_en": {"type": "string"},
            "existing_unit": {"type": "string", "description": "The unit already named so."},
            "required_roles": {"type": "array", "items": {"type": "string"}},
            "limit_bytes": {"type": "integer", "description": "The body limit that was exceeded."},
            "retry_after": {"type": "integer", "description": "Seconds to wait (429)."},
        },
        "additionalProperties": True,
    },
    "ProblemViolation": {
        "title": "ProblemViolation",
        "type": "object",
        "required": ["rule", "message_zh", "message_en"],
        "properties": {
            "rule": {
                "type": "string",
                "description": "The citation, e.g. `jincheng:21`, or `schema:<field>`.",
            },
            "message_zh": {"type": "string"},
            "message_en": {"type": "string"},
        },
    },
    "ProblemError": {
        "title": "ProblemError",
        "type": "object",
        "required": ["message"],
        "properties": {
            "message": {"type": "string"},
            "loc": {"type": "string", "description": "The field, dotted: `body.name`."},
            "type": {"type": "string", "description": "The validation error's kind."},
            "row": {"type": "integer", "description": "The spreadsheet row (header is 1)."},
            "column": {"type": "string"},
        },
        "additionalProperties": True,
    },
}

_DESCRIPTIONS = {
    400: "The request body cannot be parsed.",
    401: "The bearer token is missing or invalid (`WWW-Authenticate: Bearer`).",
    403: "The caller's role or organisation may not do this.",
    404: "No such resource (or not visible to the caller).",
    405: "The method is not allowed on this path.",
    409: "The request conflicts with the current state.",
    413: "The request body is too large.",
    415: "The request body's media type is not accepted.",
    422: "The request does not match the schema (`validation_failed`, with `errors`), "
    "or a rule refuses it (`violations` cite the regulation).",
    429: "Too many requests: wait `Retry-After` seconds.",
    "5XX": "The service or its database is unavailable, or failed.",
}


_HEADERS = {
    401: {
        "WWW-Authenticate": {
            "description": 'The scheme to use: `Bearer realm="govit"` (RFC 6750).',
            "schema": {"type": "string"},
        }
    },
    429: {
        "Retry-After": {
            "description": "Seconds to wait before trying again.",
            "schema": {"type": "integer"},
        }
    },
}


def problem_response(status: int | str, description: str | None = None) -> dict[str, Any]:
    """One OpenAPI response object answering problem+json."""
    response: dict[str, Any] = {
        "description": description or _DESCRIPTIONS.get(status, "An error."),
        "content": {PROBLEM_JSON: {"schema": dict(PROBLEM_REF)}},
    }
    if status in _HEADERS:
        response["headers"] = copy.deepcopy(_HEADERS[status])
    return response


def problem_responses(
    *statuses: int, described: Mapping[int, str] | None = None
) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` of a route for the errors it raises: ``problem_responses(404, 409)``.

    ``described`` overrides the generic description of a status for this route.
    """
    described = described or {}
    return {status: problem_response(status, described.get(status)) for status in statuses}


def install_openapi(app: FastAPI) -> None:
    """Make ``app.openapi()`` describe problem+json errors (see the module docstring)."""
    documented: list[int] = []  # id of the last document FastAPI generated and we completed

    def openapi() -> dict[str, Any]:
        document = FastAPI.openapi(app)  # cached by FastAPI until the routes change
        if documented != [id(document)]:
            document_problems(document, app.routes)
            documented[:] = [id(document)]
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def document_problems(document: dict[str, Any], routes: Sequence[BaseRoute]) -> None:
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas.update(PROBLEM_SCHEMAS)
    paths = document.get("paths", {})
    for path, methods, dependant in _api_routes(routes):
        for method in methods:
            operation = paths.get(path, {}).get(method.lower())
            if operation is None:
                continue
            responses = operation.setdefault("responses", {})
            if _requires_token(dependant):
                components.setdefault("securitySchemes", {})["bearer"] = dict(BEARER)
                operation.setdefault("security", [{"bearer": []}])
                responses.setdefault("401", problem_response(401))
            if "requestBody" in operation:
                # 400: a body that is not text in its declared charset (FastAPI's parser)
                responses.setdefault("400", problem_response(400))
                responses.setdefault("413", problem_response(413))
            responses.setdefault("5XX", problem_response("5XX"))
            for status, response in responses.items():
                if _is_fastapi_validation(response):
                    responses[status] = problem_response(422)
            operation["responses"] = dict(sorted(responses.items()))
    _drop_unused(schemas, document, ("HTTPValidationError", "ValidationError"))


def _api_routes(routes: Sequence[BaseRoute]) -> Iterator[tuple[str, set[str], Dependant]]:
    """(path, methods, dependant) of each documented route, through included routers."""
    for context in iter_route_contexts(routes):
        route = context.original_route
        if not isinstance(route, APIRoute) or not context.include_in_schema:
            continue
        dependant = getattr(context, "dependant", None) or route.dependant
        yield context.path_format or route.path_format, set(context.methods or ()), dependant


def _requires_token(dependant: Dependant) -> bool:
    return any(d.call is current_principal for d in _walk(dependant))


def _walk(dependant: Dependant) -> Iterator[Dependant]:
    for dependency in dependant.dependencies:
        yield dependency
        yield from _walk(dependency)


def _is_fastapi_validation(response: Mapping[str, Any]) -> bool:
    schema = response.get("content", {}).get("application/json", {}).get("schema", {})
    return bool(schema.get("$ref") == f"{_SCHEMAS}HTTPValidationError")


def _drop_unused(schemas: dict[str, Any], document: dict[str, Any], names: tuple[str, ...]) -> None:
    # Dropped in order: HTTPValidationError is what refers to ValidationError.
    for name in names:
        if name not in schemas:
            continue
        definition = schemas.pop(name)
        if f'"{_SCHEMAS}{name}"' in json.dumps(document):
            schemas[name] = definition
