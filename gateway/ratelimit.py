"""Rate limits per client (the token's ``sub``), per IP for anonymous routes, and a
per-IP budget of failed authentications.

The failure budget is consulted *before* a token is verified (a signature check is
the costly part of a refusal) and charged after each 401: an address that has
spent it gets 429 without any verification until its oldest failure leaves the
window. A token the gateway remembers as verified skips the check, so a client
behind the same address with a working token is not locked out.

Built on the ``limits`` library's moving-window strategy: exact (no burst of twice
the limit at a window edge, as a fixed window allows) and supported by both the
in-memory storage (one replica) and Redis/Valkey (several replicas share counts).
``GOVIT_RATE_LIMIT_STORAGE_URI`` picks the storage: ``memory://`` (default) or
``redis://host:6379/0``, ``redis+sentinel://...``, ``valkey://...``; the async
variant of the URI is used. A storage outage lets requests through (logged):
the limiter protects the services, it must not become the outage.

In memory the windows are this module's own ``MemoryWindows``, called inline: the
same exact moving window, a deque of hit times per key, trimmed from its old end.
Both in-memory storages of ``limits`` cost more than the rest of the gateway's hop
put together under a high limit: the async one schedules an expiry pass after every
hit (a thread hop per key), the synchronous one starts a timer thread every 10 ms
to trim and copy every key's list and inserts each hit at the head of a list as long
as the window's hits (a profile of bench/read_path.py: 11 % of the gateway's time
for a page of 1, on a limit of 100,000,000/minute).
"""

from __future__ import annotations

import logging
import math
import time
from collections import deque
from collections.abc import Callable, Mapping

from limits import RateLimitItem, parse_many
from limits.aio import storage as async_storage
from limits.aio import strategies as async_strategies
from limits.storage import storage_from_string

from shared.errors import GovitError

log = logging.getLogger(__name__)


def async_storage_uri(uri: str) -> str:
    """``redis://`` → ``async+redis://``; an ``async+`` URI is kept as it is."""
    return uri if uri.startswith("async+") else f"async+{uri}"


class MemoryWindows:
    """Exact moving windows in this process: per key, the times of its hits still inside
    the window, oldest first. A hit is allowed while fewer than ``amount`` hits lie in the
    last ``expiry`` seconds (as ``limits``' moving window). Keys whose hits have all left
    their window are dropped by a sweep at most every ``sweep_seconds``."""

    def __init__(self, clock: Callable[[], float] = time.time, sweep_seconds: float = 60.0) -> None:
        self._clock = clock
        self._sweep_seconds = sweep_seconds
        self._next_sweep = clock() + sweep_seconds
        self._hits: dict[str, tuple[float, deque[float]]] = {}

    def _window(self, item: RateLimitItem, key: tuple[str, ...], now: float) -> deque[float]:
        name = item.key_for(*key)
        found = self._hits.get(name)
        if found is None:
            found = self._hits[name] = (float(item.get_expiry()), deque())
        expiry, hits = found
        cutoff = now - expiry
        while hits and hits[0] <= cutoff:
            hits.popleft()
        return hits

    def hit(self, item: RateLimitItem, *key: str) -> bool:
        now = self._clock()
        if now >= self._next_sweep:
            self._sweep(now)
        hits = self._window(item, key, now)
        if len(hits) >= item.amount:
            return False
        hits.append(now)
        return True

    def test(self, item: RateLimitItem, *key: str) -> bool:
        return len(self._window(item, key, self._clock())) < item.amount

    def reset_time(self, item: RateLimitItem, *key: str) -> float:
        """When the oldest hit in the window leaves it (now, when there is none)."""
        now = self._clock()
        hits = self._window(item, key, now)
        return hits[0] + item.get_expiry() if hits else now

    def __len__(self) -> int:
        return len(self._hits)

    def _sweep(self, now: float) -> None:
        self._next_sweep = now + self._sweep_seconds
        for name, (expiry, hits) in list(self._hits.items()):
            if not hits or hits[-1] <= now - expiry:
                del self._hits[name]


class _Window:
    """The moving-window limiter over either kind of storage."""

    def __init__(self, storage_uri: str) -> None:
        self._memory: MemoryWindows | None = None
        self._async: async_strategies.MovingWindowRateLimiter | None = None
        if storage_uri.removeprefix("async+").startswith("memory://"):
            self._memory = MemoryWindows()
            return
        storage = storage_from_string(async_storage_uri(storage_uri))
        if not isinstance(storage, async_storage.Storage):
            raise ValueError(f"{storage_uri!r} is not a rate-limit storage with an async variant")
        self._async = async_strategies.MovingWindowRateLimiter(storage)

    async def hit(self, item: RateLimitItem, *key: str) -> bool:
        if self._memory is not None:
            return self._memory.hit(item, *key)
        assert self._async is not None
        return await self._async.hit(item, *key)

    async def test(self, item: RateLimitItem, *key: str) -> bool:
        """Whether one more hit would be allowed (nothing is counted)."""
        if self._memory is not None:
            return self._memory.test(item, *key)
        assert self._async is not None
        return await self._async.test(item, *key)

    async def reset_time(self, item: RateLimitItem, *key: str) -> float:
        if self._memory is not None:
            return self._memory.reset_time(item, *key)
        assert self._async is not None
        return (await self._async.get_window_stats(item, *key)).reset_time


def rate_limited(retry_after: int, limit: str, what: str = "requests") -> GovitError:
    return GovitError(
        429,
        "rate_limited",
        f"too many {what}: the limit is {limit}; retry in {retry_after} s",
        extra={"retry_after": retry_after},
        headers={"Retry-After": str(retry_after)},
    )


class RateLimiter:
    def __init__(
        self,
        storage_uri: str,
        *,
        client_limit: str,
        anonymous_limit: str,
        client_overrides: Mapping[str, str] | None = None,
        failure_limit: str = "30/minute",
    ) -> None:
        self._window = _Window(storage_uri)
        self._client = (client_limit, parse_many(client_limit))
        self._anonymous = (anonymous_limit, parse_many(anonymous_limit))
        self._failures = (failure_limit, parse_many(failure_limit))
        self._overrides = {
            sub: (text, parse_many(text)) for sub, text in (client_overrides or {}).items()
        }

    async def check_client(self, sub: str) -> None:
        text, items = self._overrides.get(sub, self._client)
        await self._hit(items, text, "client", sub)

    async def check_anonymous(self, ip: str) -> None:
        text, items = self._anonymous
        await self._hit(items, text, "ip", ip)

    async def check_failures(self, ip: str) -> None:
        """429 when ``ip`` has spent its budget of failed authentications."""
        text, items = self._failures
        for item in items:
            try:
                if await self._window.test(item, "auth-failure", ip):
                    continue
                reset_time = await self._window.reset_time(item, "auth-failure", ip)
            except Exception as exc:  # a storage outage must not refuse every request
                log.warning("rate-limit storage unavailable, request let through: %r", exc)
                return
            retry_after = max(1, math.ceil(reset_time - time.time()))
            raise rate_limited(retry_after, text, "failed authentications from this address")

    async def count_failure(self, ip: str) -> None:
        for item in self._failures[1]:
            try:
                await self._window.hit(item, "auth-failure", ip)
            except Exception as exc:
                log.warning("rate-limit storage unavailable, failure not counted: %r", exc)
                return

    async def _hit(self, items: list[RateLimitItem], text: str, *key: str) -> None:
        for item in items:
            try:
                if await self._window.hit(item, *key):
                    continue
                reset_time = await self._window.reset_time(item, *key)
            except Exception as exc:  # a storage outage must not refuse every request
                log.warning("rate-limit storage unavailable, request let through: %r", exc)
                return
            raise rate_limited(max(1, math.ceil(reset_time - time.time())), text)
