"""A token's jurisdiction must be its unit's.

A token carries ``org`` (a unit id) and ``jurisdiction`` (a profile id) as two
claims; nothing ties them but the identity platform's word. Every grant of
``shared.auth.access`` is inside the token's jurisdiction, so a token naming a
jincheng unit with ``jurisdiction=leshan`` would read leshan's catalogue and write
its own unit's records under the wrong profile. A service that knows the unit
directory refuses such a token outright, reads and writes alike, with
``403 token_jurisdiction_mismatch``.

An ``org`` the directory does not know is let through: the first administrator's
token exists before any unit does, and an unknown org owns no record anyway.

What the directory answered is remembered, bounded: a unit never changes
jurisdiction, so a known unit's answer holds for good. "Unknown" is remembered for
``unknown_seconds`` only, for a service whose directory is a projection that may
learn of a unit a moment after its first token arrives.
"""

from __future__ import annotations

import math
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import TypeVar

from shared.auth.access import as_uuid
from shared.auth.principal import Principal
from shared.errors import GovitError

# ``org`` → that unit's jurisdiction, or None when the directory has no such unit.
DirectoryLookup = Callable[[str], Awaitable[str | None]]
SessionT = TypeVar("SessionT")


class HomeJurisdictions:
    def __init__(
        self,
        max_entries: int = 10_000,
        *,
        unknown_seconds: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_entries = max_entries
        self.unknown_seconds = unknown_seconds
        self._clock = clock
        self._answers: OrderedDict[str, tuple[str | None, float]] = OrderedDict()

    async def check(self, principal: Principal, lookup: DirectoryLookup) -> None:
        """Refuse ``principal`` when its unit lies in another jurisdiction than its token's."""
        home = await self._home(principal.org, lookup)
        if home is not None and home != principal.jurisdiction:
            raise GovitError(
                403,
                "token_jurisdiction_mismatch",
                f"the token's jurisdiction {principal.jurisdiction!r} is not that of its "
                f"unit ({home!r}): ask the identity platform for a consistent token",
                extra={"token_jurisdiction": principal.jurisdiction, "unit_jurisdiction": home},
            )

    async def _home(self, org: str, lookup: DirectoryLookup) -> str | None:
        answer = self._answers.get(org)
        if answer is not None and self._clock() < answer[1]:
            return answer[0]
        home = await lookup(org)
        until = math.inf if home is not None else self._clock() + self.unknown_seconds
        self._answers.pop(org, None)
        while self._answers and len(self._answers) >= self.max_entries:
            self._answers.popitem(last=False)
        if self.max_entries > 0:
            self._answers[org] = (home, until)
        return home


def caller_check(
    unit_jurisdiction: Callable[[SessionT, uuid.UUID], Awaitable[str | None]],
    *,
    unknown_seconds: float = 60.0,
) -> Callable[[SessionT, Principal], Awaitable[None]]:
    """A service's ``check_caller`` for ``shared.routing.api_router``: its directory
    answers ``unit_jurisdiction(session, unit_id)`` (a unit's jurisdiction, or None),
    and the answers are remembered by one ``HomeJurisdictions``::

        check_caller = caller_check(repository.unit_jurisdiction)          # service.py

    A service whose directory is a projection of the registry's events names a short
    ``unknown_seconds``: it may learn of a unit a moment after the unit's first token.
    An ``org`` that is no UUID names no unit: it is let through, as an unknown one is.
    """
    homes = HomeJurisdictions(unknown_seconds=unknown_seconds)

    async def check_caller(session: SessionT, principal: Principal) -> None:
        async def lookup(org: str) -> str | None:
            unit_id = as_uuid(org)
            return None if unit_id is None else await unit_jurisdiction(session, unit_id)

        await homes.check(principal, lookup)

    return check_caller
