"""Chinese statutory working days: ``chinese-calendar`` plus years an administrator loaded.

A year with neither official data nor a loaded schedule is refused with
``CalendarYearUnknown``: treating it as weekdays-only would silently move deadlines.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta
from pathlib import Path

import chinese_calendar

from shared.calendar.schedule import YearSchedule, read_year_dir
from shared.errors import GovitError
from shared.settings import GovitSettings

# The library refuses years outside its data (1.11: 2004-2026); mirror its own bounds.
LIBRARY_YEARS = range(min(chinese_calendar.holidays).year, max(chinese_calendar.holidays).year + 1)
SHIPPED_YEARS_DIR = Path(__file__).parent / "years"


class CalendarYearUnknown(GovitError):
    """No official schedule for ``year``: a deadline there is refused, never guessed."""

    def __init__(self, year: int) -> None:
        message_zh = (
            f"{year} 年的法定节假日安排尚未载入，无法计算工作日。请管理员依据国务院办公厅"
            f"当年的节假日安排通知，将 {year}.toml（source、holidays、workdays）"
            "放入 GOVIT_HOME/calendar/ 目录并重启服务。"
        )
        message_en = (
            f"The statutory holiday schedule for {year} is not loaded, so working days "
            f"cannot be counted. An administrator loads it by placing {year}.toml "
            "(source, holidays, workdays from the State Council notice) in "
            "GOVIT_HOME/calendar/ and restarting the service."
        )
        super().__init__(
            422,
            "calendar_year_unknown",
            message_en,
            extra={"year": year, "message_zh": message_zh, "message_en": message_en},
        )
        self.year = year


class WorkdayCalendar:
    def __init__(self, schedules: Iterable[YearSchedule] = ()) -> None:
        # A loaded year overrides the library; a later schedule for a year wins.
        self._loaded = {s.year: s for s in schedules}

    @classmethod
    def from_dirs(cls, *dirs: Path) -> WorkdayCalendar:
        """Schedules from each directory in turn, so a later directory overrides."""
        return cls(s for d in dirs for s in read_year_dir(d))

    def load_year(
        self,
        year: int,
        holidays: Iterable[date],
        workdays: Iterable[date],
        source: str = "",
    ) -> YearSchedule:
        schedule = YearSchedule(year, frozenset(holidays), frozenset(workdays), source)
        self._loaded[year] = schedule
        return schedule

    def copy(self) -> WorkdayCalendar:
        """An independent calendar with the same loaded years (to try a schedule on)."""
        return WorkdayCalendar(self._loaded.values())

    def loaded(self, year: int) -> YearSchedule | None:
        """The schedule an administrator loaded for ``year``, if any."""
        return self._loaded.get(year)

    def source_of(self, year: int) -> str | None:
        """``loaded``, ``library`` (chinese-calendar's data) or None for an unknown year."""
        if year in self._loaded:
            return "loaded"
        return "library" if year in LIBRARY_YEARS else None

    def days_of(self, year: int) -> tuple[list[date], list[date]]:
        """``(holidays, adjusted working weekends)`` of a known year, each sorted."""
        if schedule := self._loaded.get(year):
            return sorted(schedule.holidays), sorted(schedule.workdays)
        if year not in LIBRARY_YEARS:
            raise CalendarYearUnknown(year)
        holidays = sorted(d for d in chinese_calendar.holidays if d.year == year)
        workdays = sorted(
            d for d in chinese_calendar.workdays if d.year == year and d.weekday() >= 5
        )
        return holidays, workdays

    def known_years(self) -> list[int]:
        return sorted(set(LIBRARY_YEARS) | set(self._loaded))

    def is_workday(self, d: date) -> bool:
        if schedule := self._loaded.get(d.year):
            return schedule.is_workday(d)
        if d.year in LIBRARY_YEARS:
            return bool(chinese_calendar.is_workday(d))
        raise CalendarYearUnknown(d.year)

    def add_workdays(self, start: date, days: int) -> date:
        """The ``days``-th working day after ``start``; ``start`` is day 0, workday or not."""
        if days < 0:
            raise ValueError("days must not be negative")
        d = start
        while days:
            d += timedelta(days=1)
            if self.is_workday(d):
                days -= 1
        return d

    def workdays_between(self, start: date, end: date) -> int:
        """Working days after ``start`` up to and including ``end`` (negative if end < start).

        The inverse of ``add_workdays``: ``workdays_between(s, add_workdays(s, n)) == n``.
        """
        if end < start:
            return -self.workdays_between(end, start)
        span = (end - start).days
        return sum(self.is_workday(start + timedelta(days=i)) for i in range(1, span + 1))


def load_calendar(settings: GovitSettings | None = None) -> WorkdayCalendar:
    """The calendar with the shipped years, then the administrator's ``<home>/calendar``."""
    settings = settings or GovitSettings()
    return WorkdayCalendar.from_dirs(SHIPPED_YEARS_DIR, settings.home / "calendar")
