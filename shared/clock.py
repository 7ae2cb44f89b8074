"""The suite's one clock: "now" in UTC and "today" in Asia/Shanghai.

Only the edge (a request handler, a scheduled job) reads the clock, once, and passes
the result down; domain code takes dates as arguments. Each app holds its clock in
``app.state.clock`` (``shared.app``): tests put a ``FixedClock`` there; development
shifts it by ``GOVIT_CLOCK_OFFSET_DAYS`` so a demo can walk past a deadline (the
settings refuse an offset in production).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

# Deadlines and working days are Beijing-time dates, wherever the server runs.
SHANGHAI = ZoneInfo("Asia/Shanghai")


class Clock(Protocol):
    def now(self) -> datetime: ...

    def today(self) -> date: ...


class SystemClock:
    """The real time, shifted by ``offset_days`` (development only)."""

    def __init__(self, offset_days: int = 0) -> None:
        self.offset = timedelta(days=offset_days)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def today(self) -> date:
        return self.now().astimezone(SHANGHAI).date()


class FixedClock:
    """A clock that moves only when told to: ``set`` or ``advance``."""

    def __init__(self, at: datetime) -> None:
        self.set(at)

    def set(self, at: datetime) -> None:
        # A naive datetime would silently mean the server's zone: refuse it.
        if at.tzinfo is None or at.utcoffset() is None:
            raise ValueError("FixedClock needs an aware datetime")
        self._at = at.astimezone(UTC)

    def advance(self, delta: timedelta) -> None:
        self._at += delta

    def now(self) -> datetime:
        return self._at

    def today(self) -> date:
        return self._at.astimezone(SHANGHAI).date()
