"""Who is calling: the token checked at the door, and the caller's address.

The token is verified with the same ``TokenVerifier`` every service uses (JWKS,
asymmetric allow-list, ``exp``/``nbf``/``aud``/``iss`` with leeway) and forwarded
unchanged: each service verifies it again and decides object-level access.

A verification costs about 250 µs (an ES256 check and PyJWT's parsing), a third
of the gateway's own time per request, and a client sends the same token for many
requests. So a token that verified is remembered for ``GOVIT_TOKEN_CACHE_SECONDS``
(never past its ``exp``); only successes are remembered. The price: a signing key
withdrawn from the JWKS stops working at the gateway up to that long later (the
services, which verify again without a cache, refuse it as soon as they refresh).
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable

from starlette.requests import Request

from shared.auth import Principal, TokenVerifier, bearer_token


class VerifiedTokens:
    """``TokenVerifier.verify`` with a bounded memory of recent successes."""

    def __init__(
        self,
        verifier: TokenVerifier,
        *,
        seconds: float,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.verifier = verifier
        self.seconds = seconds
        self.max_entries = max_entries
        self._clock = clock
        self._entries: dict[str, tuple[Principal, float]] = {}

    async def verify(self, token: str) -> Principal:
        if self.seconds <= 0 or self.max_entries <= 0:
            return await self.verifier.verify(token)
        now = self._clock()
        hit = self._entries.get(token)
        if hit is not None:
            if now < hit[1]:
                return hit[0]
            del self._entries[token]
        principal = await self.verifier.verify(token)
        until = min(now + self.seconds, _expiry(token))
        if until > now:
            if len(self._entries) >= self.max_entries:
                del self._entries[next(iter(self._entries))]  # the oldest entry
            self._entries[token] = (principal, until)
        return principal


def _expiry(token: str) -> float:
    """The ``exp`` of a token that has just verified (so it is well-formed)."""
    payload = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return float(claims["exp"])


async def authenticate(
    request: Request, tokens: VerifiedTokens, *, anonymous: bool
) -> Principal | None:
    """The verified principal; None only on an anonymous route called without a token.

    On an anonymous route a token that is sent is still verified (and a bad one
    refused): a caller never gets less checking by choosing the route.
    """
    if anonymous and "authorization" not in request.headers:
        return None
    principal = await tokens.verify(bearer_token(request))
    request.state.principal = principal
    return principal


def client_ip(request: Request) -> str:
    """The peer address (uvicorn rewrites it from X-Forwarded-For for trusted proxies:
    set ``FORWARDED_ALLOW_IPS`` to the ingress addresses)."""
    return request.client.host if request.client else "unknown"
