"""Who is calling: the token checked at the door, and the caller's address.

The token is verified with the same ``TokenVerifier`` every service uses (JWKS,
asymmetric allow-list, ``exp``/``nbf``/``aud``/``iss`` with leeway) and forwarded
unchanged: each service verifies it again and decides object-level access.

A verification costs about 250 µs (an ES256 check and PyJWT's parsing), a third
of the gateway's own time per request, and a client sends the same token for many
requests. The verifier's own memory of verified tokens (``shared.auth.memory``,
``GOVIT_TOKEN_CACHE_SECONDS``/``_SIZE``: bounded, never past ``exp``, only
successes) is the one cache here: the gateway asks it first, so a remembered token
skips the failure budget too. The price: a signing key withdrawn from the JWKS
keeps working for a remembered token up to that long.

A refusal tells the caller its stable ``code`` and "invalid token", never the
verifier's detail (PyJWT's messages, the ``kid`` it sent): that goes to the log.
Failed authentications are charged to the caller's address (``FailureBudget``).
"""

from __future__ import annotations

import logging
from typing import Protocol

from starlette.requests import Request

from shared.auth import Principal, TokenVerifier, bearer_token
from shared.auth.dependencies import refused
from shared.errors import GovitError

log = logging.getLogger(__name__)


class FailureBudget(Protocol):
    """Failed authentications per address (``RateLimiter`` is one)."""

    async def check_failures(self, ip: str) -> None: ...

    async def count_failure(self, ip: str) -> None: ...


class VerifiedTokens:
    """``TokenVerifier.verify``, and what its memory already holds."""

    def __init__(self, verifier: TokenVerifier) -> None:
        self.verifier = verifier

    def remembered(self, token: str) -> Principal | None:
        """The principal of a token verified recently and still remembered, else None."""
        memory = self.verifier.memory
        return memory.get(token) if memory is not None else None

    async def verify(self, token: str) -> Principal:
        return await self.verifier.verify(token)


async def authenticate(
    request: Request,
    tokens: VerifiedTokens,
    *,
    anonymous: bool,
    failures: FailureBudget | None = None,
) -> Principal | None:
    """The verified principal; None only on an anonymous route called without a token.

    On an anonymous route a token that is sent is still verified (and a bad one
    refused): a caller never gets less checking by choosing the route. Unless the
    token is remembered, the caller's address must have failure budget left
    (else 429, before any verification); each refusal spends some.
    """
    if anonymous and "authorization" not in request.headers:
        return None
    ip = client_ip(request)
    try:
        token = bearer_token(request)
        principal = tokens.remembered(token)
        if principal is None:
            if failures is not None:
                await failures.check_failures(ip)
            principal = await tokens.verify(token)
    except GovitError as error:
        if error.status != 401:
            raise
        if failures is not None:
            await failures.count_failure(ip)
        raise _plain(error, ip) from None
    request.state.principal = principal
    return principal


def _plain(error: GovitError, ip: str) -> GovitError:
    """The refusal as the caller sees it: the stable code, no verifier internals."""
    log.info("token refused: %s (%s) from %s", error.code, error.detail, ip)
    return refused(error)


def client_ip(request: Request) -> str:
    """The peer address (uvicorn rewrites it from X-Forwarded-For for trusted proxies:
    set ``FORWARDED_ALLOW_IPS`` to the ingress addresses)."""
    return request.client.host if request.client else "unknown"
