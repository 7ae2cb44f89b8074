"""A service of the kit that does nothing: what a routed call costs before any work.

``uvicorn --factory bench.floor_service:build_app`` (``bench/read_path.py`` starts it).
The registry's app factory, middleware and router class, with one route under the
registry's prefix, ``GET /api/v1/systems``, answering an empty page: no token, no
dependency, no database. A gateway routed to it measures the floor of any read the
suite serves: the gateway's hop plus the framework's cost of one route.
"""

from __future__ import annotations

from fastapi import FastAPI, Response

from services.registry.app import RegistrySettings
from services.registry.models import events
from shared import pagination
from shared.app import create_app
from shared.routing import api_router

router = api_router("floor")


@router.get("/systems")
async def empty_page() -> Response:
    return pagination.page_response([], None)


def build_app() -> FastAPI:
    return create_app(
        settings=RegistrySettings(), title="govit floor", routers=[router], tables=events
    )
