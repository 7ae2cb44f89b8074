"""A bounded memory of verified tokens, so a service does not redo ES256 per request.

A client sends the same token for many requests; verifying it (the ES256 check and
PyJWT's parsing) costs about 250 µs each time. The rules are the gateway's:

- keyed by the exact token string (a token differing by one byte is another token);
- only successes are remembered: a refused token is verified (and refused) again;
- an entry lives ``seconds`` at most and never past the token's ``exp``;
- at most ``max_entries`` are held, the oldest forgotten first;
- ``seconds <= 0`` or ``max_entries <= 0`` turns the memory off.

The price: a signing key withdrawn from the JWKS keeps working for a remembered
token up to ``seconds`` longer (30 by default, ``GOVIT_TOKEN_CACHE_SECONDS``).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

from shared.auth.principal import Principal


class TokenMemory:
    def __init__(
        self,
        seconds: float,
        max_entries: int = 10_000,
        *,
        clock: Callable[[], float] = time.time,  # wall clock: ``exp`` is wall-clock time
    ) -> None:
        self.seconds = seconds
        self.max_entries = max_entries
        self._clock = clock
        # Insertion order is age order: entries are never refreshed in place.
        self._entries: OrderedDict[str, tuple[Principal, float]] = OrderedDict()

    @property
    def enabled(self) -> bool:
        return self.seconds > 0 and self.max_entries > 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, token: str) -> Principal | None:
        hit = self._entries.get(token)
        if hit is None:
            return None
        principal, until = hit
        if self._clock() < until:
            return principal
        del self._entries[token]
        return None

    def remember(self, token: str, principal: Principal, exp: float) -> None:
        """Keep a token that has just verified, whose ``exp`` claim is ``exp``."""
        if not self.enabled:
            return
        now = self._clock()
        until = min(now + self.seconds, exp)
        if until <= now:
            return  # verified only thanks to the leeway: nothing to remember
        self._entries.pop(token, None)
        while len(self._entries) >= self.max_entries:
            self._entries.popitem(last=False)
        self._entries[token] = (principal, until)
