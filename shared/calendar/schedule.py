"""A year's official schedule: holidays and adjusted working weekends (调休).

An administrator loads a year that ``chinese-calendar`` does not know yet from the
State Council's notice (国务院办公厅关于某年部分节假日安排的通知) as ``<year>.toml``::

    source = "国务院办公厅关于2027年部分节假日安排的通知（国办发明电〔2026〕N号）"
    holidays = [2027-01-01, ...]  # every day off, including weekend days inside a holiday
    workdays = [...]              # weekend days that are working days (调休), or []
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from shared.errors import GovitError


class InvalidCalendarSchedule(GovitError):
    """A schedule that contradicts itself or its year: refused whole, never half-loaded."""

    def __init__(self, detail: str) -> None:
        super().__init__(422, "calendar_schedule_invalid", detail)


@dataclass(frozen=True, slots=True)
class YearSchedule:
    year: int
    holidays: frozenset[date]
    workdays: frozenset[date]
    source: str = ""

    def __post_init__(self) -> None:
        problems = []
        for d in sorted(self.holidays | self.workdays):
            if d.year != self.year:
                problems.append(f"{d} is not in {self.year}")
        for d in sorted(self.holidays & self.workdays):
            problems.append(f"{d} is both a holiday and a working day")
        for d in sorted(self.workdays):
            # 调休 moves work onto a weekend; a weekday listed here is a typo.
            if d.weekday() < 5:
                problems.append(f"working day {d} is a weekday, not an adjusted weekend")
        if not self.holidays:
            # Every year has New Year's Day: an empty list is an unfilled file, which
            # would pass the year off as weekdays-only.
            problems.append("no holidays listed")
        if problems:
            raise InvalidCalendarSchedule(f"calendar {self.year}: " + "; ".join(problems))

    def is_workday(self, d: date) -> bool:
        return d in self.workdays or (d.weekday() < 5 and d not in self.holidays)


def read_year_file(path: Path) -> YearSchedule:
    """Read and validate ``<year>.toml``; the file name is the year."""
    if not (len(path.stem) == 4 and path.stem.isdigit()):
        raise InvalidCalendarSchedule(f"{path}: the file must be named <year>.toml")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise InvalidCalendarSchedule(f"{path}: {exc}") from exc
    # Unknown keys are refused: a typo such as `holiday =` would drop the whole list.
    if set(data) != {"source", "holidays", "workdays"}:
        raise InvalidCalendarSchedule(f"{path}: needs exactly source, holidays and workdays")
    source = data["source"]
    if not isinstance(source, str) or not source.strip():
        raise InvalidCalendarSchedule(f"{path}: source must name the State Council notice")
    try:
        return YearSchedule(
            int(path.stem),
            _dates(data["holidays"], path),
            _dates(data["workdays"], path),
            source.strip(),
        )
    except InvalidCalendarSchedule as exc:
        raise InvalidCalendarSchedule(f"{path}: {exc.detail}") from None


def read_year_dir(directory: Path) -> list[YearSchedule]:
    """Every ``*.toml`` in ``directory`` (none if it does not exist), by year."""
    if not directory.is_dir():
        return []
    return [read_year_file(p) for p in sorted(directory.glob("*.toml"))]


def _dates(values: object, path: Path) -> frozenset[date]:
    if not isinstance(values, list):
        raise InvalidCalendarSchedule(f"{path}: holidays and workdays must be lists of dates")
    out = set()
    for v in values:
        # TOML date literals arrive as dates; quoted ISO strings are accepted too.
        if isinstance(v, str):
            try:
                v = date.fromisoformat(v)
            except ValueError:
                raise InvalidCalendarSchedule(f"{path}: {v!r} is not a date") from None
        if not isinstance(v, date) or isinstance(v, datetime):
            raise InvalidCalendarSchedule(f"{path}: {v!r} is not a date")
        out.add(v)
    return frozenset(out)
