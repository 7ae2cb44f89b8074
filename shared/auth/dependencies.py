"""FastAPI dependencies: who is calling, and may they?

The app factory puts a ``TokenVerifier`` at ``app.state.token_verifier``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request

from shared.auth.principal import Principal, Role
from shared.auth.verify import TokenVerifier
from shared.errors import GovitError, unauthorized


def bearer_token(request: Request) -> str:
    """The token of ``Authorization: Bearer <token>`` (RFC 6750; scheme is case-insensitive)."""
    scheme, _, token = request.headers.get("authorization", "").strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise unauthorized("token_missing", "send Authorization: Bearer <token>")
    return token


async def current_principal(request: Request) -> Principal:
    verifier = getattr(request.app.state, "token_verifier", None)
    if not isinstance(verifier, TokenVerifier):
        raise RuntimeError("app.state.token_verifier is not set: use the shared app factory")
    principal = await verifier.verify(bearer_token(request))
    request.state.principal = principal  # for access logs and audit records
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def require_roles(*roles: Role | str) -> Callable[..., Awaitable[Principal]]:
    """A dependency admitting a principal holding at least one of ``roles`` (else 403)."""
    wanted = frozenset(Role(r) for r in roles)  # an unknown role name fails at import
    if not wanted:
        raise ValueError("require_roles needs at least one role")
    names = sorted(wanted)

    async def dependency(principal: CurrentPrincipal) -> Principal:
        if not principal.has_role(*wanted):
            raise GovitError(
                403,
                "role_required",
                f"this action needs one of the roles: {', '.join(names)}",
                extra={"required_roles": names},
            )
        return principal

    return dependency
