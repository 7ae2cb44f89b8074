"""One OpenAPI document for the whole suite, merged from the five services'.

Each service's ``/openapi.json`` is fetched through the gateway's client; only the
paths the gateway routes to that service are kept, each operation is tagged with
the service's name, and anonymous routes are marked ``security: []``. Components
with the same name and the same definition are shared (FastAPI's validation
schemas, typically); a name clash with a different definition is resolved by
renaming the later service's component ``<service>.<Name>`` and rewriting its
``$ref``s. A service that does not answer is left out and listed in
``x-govit-unavailable``; a complete document is cached for a short while.

``/docs`` is Swagger UI on that document, its assets served by the gateway itself
from the ``swagger-ui-bundle-v2`` wheel (pinned in pyproject.toml): a government
intranet often has no way out to a CDN, and a page that loads code from a CDN
runs whatever that host serves. The assets' URL carries their version, so they
may be cached for good.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope
from swagger_ui_bundle import swagger_ui_path

from gateway.clients import UpstreamClient
from gateway.routes import RouteTable
from gateway.settings import SERVICES
from shared.openapi import PROBLEM_SCHEMAS, problem_response

log = logging.getLogger(__name__)

SWAGGER_UI_DIR = Path(str(swagger_ui_path))  # .../vendor/swagger-ui-<version>
SWAGGER_UI_URL = f"/docs/{SWAGGER_UI_DIR.name}"
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_REF = "#/components/"
BEARER = {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
# What the gateway itself may answer on any routed operation, before or instead
# of the service: the document must say so, or generated clients meet surprises.
GATEWAY_ANSWERS = {
    "414": "The request target is longer than the gateway accepts (`uri_too_long`).",
    "429": "Too many requests from this caller or address (`rate_limited`): "
    "wait `Retry-After` seconds.",
    "502": "The service behind the gateway did not answer (`upstream_unavailable`).",
    "504": "The service behind the gateway took too long (`upstream_timeout`).",
}


def _rewrite_refs(node: Any, renames: Mapping[tuple[str, str], str]) -> Any:
    """A copy of ``node`` whose ``$ref``s point at renamed components."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith(_REF):
                section, _, name = value[len(_REF) :].partition("/")
                new = renames.get((section, name))
                out[key] = f"{_REF}{section}/{new}" if new else value
            else:
                out[key] = _rewrite_refs(value, renames)
        return out
    if isinstance(node, list):
        return [_rewrite_refs(item, renames) for item in node]
    return node


def _renames(
    service: str, components: Mapping[str, Any], merged: Mapping[str, dict[str, Any]]
) -> dict[tuple[str, str], str]:
    """Which of ``service``'s components must take a new name (to a fixpoint: a
    component that refers to a renamed one differs from its namesake as well)."""
    renames: dict[tuple[str, str], str] = {}
    changed = True
    while changed:
        changed = False
        for section, entries in components.items():
            if not isinstance(entries, dict):
                continue
            for name, definition in entries.items():
                if (section, name) in renames or name not in merged.get(section, {}):
                    continue
                if merged[section][name] != _rewrite_refs(definition, renames):
                    renames[(section, name)] = f"{service}.{name}"
                    changed = True
    return renames


def _gateway_answers(schemas: dict[str, Any]) -> dict[str, Any]:
    """The gateway's own answers as problem+json, pointing at the suite's ``Problem``
    (added as ``gateway.<Name>`` where a service defines a ``Problem`` of its own)."""
    renames = {
        ("schemas", name): f"gateway.{name}"
        for name, definition in PROBLEM_SCHEMAS.items()
        if name in schemas and schemas[name] != definition
    }
    for name, definition in PROBLEM_SCHEMAS.items():
        schemas.setdefault(renames.get(("schemas", name), name), _rewrite_refs(definition, renames))
    return {
        status: _rewrite_refs(problem_response(int(status), description), renames)
        for status, description in GATEWAY_ANSWERS.items()
    }


def merge(
    documents: Mapping[str, dict[str, Any]],
    table: RouteTable,
    *,
    unavailable: Mapping[str, str] | None = None,
    version: str = "1.0.0",
) -> dict[str, Any]:
    """The merged document; ``documents`` maps a service name to its OpenAPI document."""
    paths: dict[str, Any] = {}
    components: dict[str, dict[str, Any]] = {"securitySchemes": {"bearer": dict(BEARER)}}
    tags = []
    for service in [s for s in SERVICES if s in documents] + sorted(set(documents) - set(SERVICES)):
        document = documents[service]
        own_components = document.get("components") or {}
        renames = _renames(service, own_components, components)
        for section, entries in own_components.items():
            if not isinstance(entries, dict):
                continue
            target = components.setdefault(section, {})
            for name, definition in entries.items():
                new_name: str = renames.get((section, name)) or name
                target[new_name] = _rewrite_refs(definition, renames)
        kept = 0
        for path, item in (document.get("paths") or {}).items():
            route = table.resolve(path)
            if route is None or route.service != service:
                log.warning(
                    "OpenAPI of %s lists %s, which the gateway does not route to it", service, path
                )
                continue
            item = _rewrite_refs(item, renames)
            for method in HTTP_METHODS:
                operation = item.get(method)
                if not isinstance(operation, dict):
                    continue
                operation["tags"] = [service]
                if table.is_anonymous(method.upper(), path):
                    operation["security"] = []
            paths[path] = item
            kept += 1
        info = document.get("info") or {}
        tags.append(
            {"name": service, "description": f"{info.get('title', service)} ({kept} paths)"}
        )

    answers = _gateway_answers(components.setdefault("schemas", {}))
    for item in paths.values():
        for method in HTTP_METHODS:
            operation = item.get(method)
            if isinstance(operation, dict):
                responses = operation.setdefault("responses", {})
                for status, answer in answers.items():
                    responses.setdefault(status, answer)

    merged: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "govit API",
            "version": version,
            "description": "All services of the suite behind the gateway. Every call carries "
            "`Authorization: Bearer <jwt>` unless its operation says otherwise.",
        },
        "tags": tags,
        "paths": dict(sorted(paths.items())),
        "components": components,
        "security": [{"bearer": []}],
    }
    if unavailable:
        merged["x-govit-unavailable"] = dict(unavailable)
    return merged


class OpenApiAggregator:
    def __init__(
        self,
        table: RouteTable,
        urls: Mapping[str, str],
        client: Callable[[], UpstreamClient],
        *,
        timeout: float,
        cache_seconds: float,
    ) -> None:
        self._table = table
        self._urls = dict(urls)
        self._client = client
        self._timeout = timeout
        self._cache_seconds = cache_seconds
        self._cached: tuple[float, dict[str, Any]] | None = None
        self._lock = asyncio.Lock()

    async def document(self) -> dict[str, Any]:
        async with self._lock:
            now = time.monotonic()
            if self._cached and now - self._cached[0] < self._cache_seconds:
                return self._cached[1]
            results = await asyncio.gather(*(self._fetch(url) for url in self._urls.values()))
            documents, unavailable = {}, {}
            for service, result in zip(self._urls, results, strict=True):
                if isinstance(result, dict):
                    documents[service] = result
                else:
                    unavailable[service] = result
            merged = merge(documents, self._table, unavailable=unavailable)
            self._cached = None if unavailable else (now, merged)
            return merged

    async def _fetch(self, base_url: str) -> dict[str, Any] | str:
        try:
            async with asyncio.timeout(self._timeout):
                response = await self._client().send(
                    "GET",
                    f"{base_url}/openapi.json",
                    [("accept", "application/json")],
                    None,
                    self._timeout,
                )
                body = await response.read()
            if response.status != 200:
                return f"answered {response.status}"
            document = json.loads(body)
        except Exception as exc:  # any failure only leaves this service out
            return f"unavailable: {type(exc).__name__}"
        if not isinstance(document, dict) or not isinstance(document.get("paths", {}), dict):
            return "not an OpenAPI document"
        return document


def openapi_router(aggregator: Callable[[Request], OpenApiAggregator]) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/openapi.json")
    async def openapi(request: Request) -> JSONResponse:
        return JSONResponse(await aggregator(request).document())

    @router.get("/docs")
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="govit API",
            swagger_js_url=f"{SWAGGER_UI_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{SWAGGER_UI_URL}/swagger-ui.css",
            swagger_favicon_url=f"{SWAGGER_UI_URL}/favicon-32x32.png",
            # No badge that sends the document to swagger.io's online validator.
            swagger_ui_parameters={"validatorUrl": None},
        )

    return router


class SwaggerUiAssets(StaticFiles):
    """The packaged Swagger UI files; versioned URLs, so cacheable for a year."""

    def __init__(self) -> None:
        super().__init__(directory=SWAGGER_UI_DIR)

    async def get_response(self, path: str, scope: Scope) -> Response:
        if scope["method"] not in ("GET", "HEAD"):
            raise HTTPException(405, headers={"Allow": "GET, HEAD"})
        return await super().get_response(path, scope)

    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers["cache-control"] = "public, max-age=31536000, immutable"
        return response
