"""FastAPI dependencies: who is calling, and may they?

The app factory puts a ``TokenVerifier`` at ``app.state.token_verifier``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request

from shared.auth.principal import Principal, Role
from shared.auth.verify import TokenVerifier
from shared.errors import GovitError, unauthorized

log = logging.getLogger(__name__)
INVALID_TOKEN = "invalid token"  # noqa: S105 (a message, not a secret)


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
    try:
        principal = await verifier.verify(bearer_token(request))
    except GovitError as error:
        if error.status != 401:
            raise
        log.info("token refused: %s (%s)", error.code, error.detail)
        raise refused(error) from None
    request.state.principal = principal  # for access logs and audit records
    return principal


def refused(error: GovitError) -> GovitError:
    """A 401 as the caller sees it, at the gateway and at every service alike: the
    stable ``code``, none of the verifier's detail (PyJWT's messages, the ``kid`` it
    was sent), which goes to the log."""
    if error.code == "token_missing":
        return unauthorized(error.code, "send Authorization: Bearer <token>")
    return unauthorized(error.code, INVALID_TOKEN)


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
