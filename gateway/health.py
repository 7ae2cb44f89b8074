"""``/healthz`` (the gateway is alive), ``/healthz/{service}`` (that service's own
``/healthz``, through the door) and ``/readyz`` (every upstream is ready)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from gateway.clients import UpstreamClient, UpstreamTimeout
from shared.errors import GovitError
from shared.problems import problem_response


async def _ready(client: UpstreamClient, base_url: str, seconds: float) -> str:
    try:
        async with asyncio.timeout(seconds):
            response = await client.send("GET", f"{base_url}/readyz", [], None, seconds)
            await response.read()
    except Exception as exc:  # whatever went wrong, this upstream is not ready
        return f"unavailable: {type(exc).__name__}"
    return "ok" if response.status == 200 else f"not ready: {response.status}"


async def upstream_readiness(
    client: UpstreamClient, urls: Mapping[str, str], seconds: float
) -> dict[str, str]:
    results = await asyncio.gather(*(_ready(client, url, seconds) for url in urls.values()))
    return dict(zip(urls, results, strict=True))


def health_router(
    client: Callable[[Request], UpstreamClient], urls: Mapping[str, str], timeout: float
) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/healthz/{service}")
    async def service_healthz(request: Request, service: str) -> Response:
        base_url = urls.get(service)
        if base_url is None:
            raise GovitError(404, "route_not_found", f"no service is called {service!r}")
        try:
            async with asyncio.timeout(timeout):
                answer = await client(request).send("GET", f"{base_url}/healthz", [], None, timeout)
                body = await answer.read()
        except (TimeoutError, UpstreamTimeout):
            raise GovitError(
                504,
                "upstream_timeout",
                f"the {service} service did not answer",
                extra={"service": service},
            ) from None
        except Exception:
            raise GovitError(
                502,
                "upstream_unavailable",
                f"the {service} service is unavailable",
                extra={"service": service},
            ) from None
        media_type = next(
            (v.decode("latin-1") for k, v in answer.headers if k.lower() == b"content-type"),
            None,
        )
        return Response(body, status_code=answer.status, media_type=media_type)

    @router.get("/readyz", response_model=None)
    async def readyz(request: Request) -> dict[str, Any] | JSONResponse:
        checks = await upstream_readiness(client(request), urls, timeout)
        if all(v == "ok" for v in checks.values()):
            return {"status": "ready", "checks": checks}
        error = GovitError(
            503, "not_ready", "an upstream service is not ready", extra={"checks": checks}
        )
        return problem_response(request, error)

    return router
