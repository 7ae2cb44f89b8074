"""A service's router and the role aliases its routes share.

::

    router = api_router("filing", check_caller=service.check_caller)   # api.py

``api_router`` mounts under ``/api/v1``, tags the operations, and replays answers per
Idempotency-Key (``shared.idempotency.IdempotentRoute``); with ``check_caller``
every route first hands the verified principal and the request's session to it (the
services refuse a token whose unit lies in another jurisdiction there, 403
``token_jurisdiction_mismatch``). ``Admin``, ``Authority`` and ``Finance`` are the
principals holding that one role (403 ``role_required`` otherwise); a route needing
one of several roles declares its own ``require_roles(...)``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import APIRouter, Depends
from sqlalchemy.ext.asyncio import AsyncSession

from shared.app import DbSession
from shared.auth import CurrentPrincipal, Principal, Role, require_roles
from shared.idempotency import IdempotentRoute

PREFIX = "/api/v1"

CallerCheck = Callable[[AsyncSession, Principal], Awaitable[None]]


def api_router(tag: str, *, check_caller: CallerCheck | None = None) -> APIRouter:
    dependencies = [] if check_caller is None else [Depends(_before_every_route(check_caller))]
    return APIRouter(
        prefix=PREFIX, tags=[tag], dependencies=dependencies, route_class=IdempotentRoute
    )


def _before_every_route(check: CallerCheck) -> Callable[..., Awaitable[None]]:
    async def caller_at_home(principal: CurrentPrincipal, session: DbSession) -> None:
        await check(session, principal)

    return caller_at_home


Admin = Annotated[Principal, Depends(require_roles(Role.ADMIN))]
Authority = Annotated[Principal, Depends(require_roles(Role.AUTHORITY))]
Finance = Annotated[Principal, Depends(require_roles(Role.FINANCE))]
