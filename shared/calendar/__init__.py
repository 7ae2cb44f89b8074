"""Chinese statutory working days for deadlines (DOMAIN.md "Working days").

Build one calendar per process with ``load_calendar()`` and pass it (with dates
read once from ``shared.clock``) to domain code.
"""

from shared.calendar.schedule import (
    InvalidCalendarSchedule,
    YearSchedule,
    read_year_dir,
    read_year_file,
)
from shared.calendar.workdays import (
    LIBRARY_YEARS,
    SHIPPED_YEARS_DIR,
    CalendarYearUnknown,
    WorkdayCalendar,
    load_calendar,
)

__all__ = [
    "LIBRARY_YEARS",
    "SHIPPED_YEARS_DIR",
    "CalendarYearUnknown",
    "InvalidCalendarSchedule",
    "WorkdayCalendar",
    "YearSchedule",
    "load_calendar",
    "read_year_dir",
    "read_year_file",
]
