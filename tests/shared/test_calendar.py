"""Working days per DOMAIN.md: day 0 is the event, holidays skipped, 调休 weekends count.

Expected 2026 dates are hand-checked against 国务院办公厅关于2026年部分节假日安排的通知
(2025-11-04), which ``chinese-calendar`` 1.11 carries.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import chinese_calendar
import pytest

from shared.calendar import (
    SHIPPED_YEARS_DIR,
    CalendarYearUnknown,
    InvalidCalendarSchedule,
    WorkdayCalendar,
    load_calendar,
    read_year_dir,
    read_year_file,
)

# 2026 from the State Council notice, by hand.
NATIONAL_DAY_2026 = [date(2026, 10, d) for d in range(1, 8)]  # Thu 1 - Wed 7 October
MID_AUTUMN_2026 = [date(2026, 9, d) for d in (25, 26, 27)]  # Fri 25 - Sun 27 September
AUTUMN_WORKING_WEEKENDS_2026 = [date(2026, 9, 20), date(2026, 10, 10)]  # Sun, Sat
SPRING_FESTIVAL_2026 = [date(2026, 2, d) for d in range(15, 24)]  # Sun 15 - Mon 23 February
SPRING_WORKING_SATURDAYS_2026 = [date(2026, 2, 14), date(2026, 2, 28)]

# A made-up 2027 schedule for tests only: the real one is not published yet.
FIXTURE_2027 = """\
source = "test fixture, not the real 2027 schedule"
holidays = [2027-01-01]
workdays = [2027-01-09]
"""


@pytest.fixture
def cal() -> WorkdayCalendar:
    return WorkdayCalendar()


def library_days(kind: dict[date, str], start: date, end: date) -> list[date]:
    return sorted(d for d in kind if start <= d <= end)


def test_library_2026_autumn_matches_the_state_council_notice() -> None:
    autumn = (date(2026, 9, 1), date(2026, 10, 31))
    assert library_days(chinese_calendar.holidays, *autumn) == MID_AUTUMN_2026 + NATIONAL_DAY_2026
    weekend_workdays = [
        d for d in library_days(chinese_calendar.workdays, *autumn) if d.weekday() >= 5
    ]
    assert weekend_workdays == AUTUMN_WORKING_WEEKENDS_2026


def test_library_2026_spring_festival_matches_the_state_council_notice() -> None:
    spring = (date(2026, 2, 1), date(2026, 2, 28))
    assert library_days(chinese_calendar.holidays, *spring) == SPRING_FESTIVAL_2026
    assert library_days(chinese_calendar.workdays, *spring) == SPRING_WORKING_SATURDAYS_2026


def test_national_day_and_mid_autumn_2026_are_not_working_days(cal: WorkdayCalendar) -> None:
    # Weekdays among them too: Mid-Autumn Fri 25 Sep, National Day Thu 1 - Wed 7 Oct.
    assert not any(cal.is_workday(d) for d in MID_AUTUMN_2026 + NATIONAL_DAY_2026)
    assert cal.is_workday(date(2026, 9, 24))  # Thursday before Mid-Autumn
    assert cal.is_workday(date(2026, 10, 8))  # Thursday after National Day


def test_adjusted_working_sunday_and_saturday_count_around_national_day(
    cal: WorkdayCalendar,
) -> None:
    assert [d.weekday() for d in AUTUMN_WORKING_WEEKENDS_2026] == [6, 5]
    assert all(cal.is_workday(d) for d in AUTUMN_WORKING_WEEKENDS_2026)
    assert not cal.is_workday(date(2026, 10, 11))  # the Sunday after stays a rest day


def test_adjusted_working_saturday_counts_as_working_day(cal: WorkdayCalendar) -> None:
    assert [d.weekday() for d in SPRING_WORKING_SATURDAYS_2026] == [5, 5]
    assert all(cal.is_workday(d) for d in SPRING_WORKING_SATURDAYS_2026)
    assert not any(cal.is_workday(d) for d in SPRING_FESTIVAL_2026)
    assert not cal.is_workday(date(2026, 2, 7))  # an ordinary Saturday


def test_deadline_across_spring_festival_counts_the_adjusted_saturday(
    cal: WorkdayCalendar,
) -> None:
    # Signed Fri 13 Feb: Sat 14 (调休) is day 1, 15-23 off, Tue 24 - Fri 27 are days 2-5.
    assert cal.add_workdays(date(2026, 2, 13), 5) == date(2026, 2, 27)
    assert cal.add_workdays(date(2026, 2, 13), 6) == date(2026, 2, 28)  # Sat, 调休
    assert cal.add_workdays(date(2026, 2, 13), 7) == date(2026, 3, 2)


def test_contract_filing_deadline_skips_national_day(cal: WorkdayCalendar) -> None:
    # Signed Wed 30 Sep: 1-7 Oct off; Thu 8, Fri 9, Sat 10 (调休), Mon 12, Tue 13.
    assert cal.add_workdays(date(2026, 9, 30), 5) == date(2026, 10, 13)


def test_deadline_crossing_mid_autumn_and_national_day(cal: WorkdayCalendar) -> None:
    # Signed Thu 24 Sep: 25-27 off; Mon 28, Tue 29, Wed 30; 1-7 Oct off; Thu 8, Fri 9.
    assert cal.add_workdays(date(2026, 9, 24), 5) == date(2026, 10, 9)


def test_event_day_is_day_zero(cal: WorkdayCalendar) -> None:
    monday = date(2026, 3, 2)
    assert cal.add_workdays(monday, 0) == monday
    assert cal.add_workdays(monday, 1) == date(2026, 3, 3)
    # An event on a rest day is still day 0; day 1 is the next working day.
    assert cal.add_workdays(date(2026, 10, 3), 0) == date(2026, 10, 3)
    assert cal.add_workdays(date(2026, 10, 3), 1) == date(2026, 10, 8)


def test_negative_day_counts_are_refused(cal: WorkdayCalendar) -> None:
    with pytest.raises(ValueError):
        cal.add_workdays(date(2026, 3, 2), -1)


def test_workdays_between_inverts_add_workdays(cal: WorkdayCalendar) -> None:
    start = date(2026, 9, 24)
    for n in range(12):
        assert cal.workdays_between(start, cal.add_workdays(start, n)) == n
    assert cal.workdays_between(start, start) == 0
    assert cal.workdays_between(date(2026, 10, 9), start) == -5
    # 2026: 261 weekdays - 19 weekday holidays + 6 adjusted working weekends = 248.
    assert cal.workdays_between(date(2025, 12, 31), date(2026, 12, 31)) == 248


def test_year_without_official_schedule_is_refused_not_guessed(cal: WorkdayCalendar) -> None:
    with pytest.raises(CalendarYearUnknown) as caught:
        cal.is_workday(date(2027, 3, 1))  # a plain Monday, still not assumed
    err = caught.value
    assert (err.status, err.code, err.year) == (422, "calendar_year_unknown", 2027)
    problem = err.problem()
    assert problem["code"] == "calendar_year_unknown"
    assert "2027" in problem["message_zh"] and "2027.toml" in problem["message_zh"]
    assert "2027" in problem["message_en"] and "administrator" in problem["message_en"]


def test_deadline_running_into_unknown_year_is_refused(cal: WorkdayCalendar) -> None:
    # Tue 29 Dec 2026: Wed 30 and Thu 31 are days 1-2; day 3 would be in 2027.
    assert cal.add_workdays(date(2026, 12, 29), 2) == date(2026, 12, 31)
    with pytest.raises(CalendarYearUnknown) as caught:
        cal.add_workdays(date(2026, 12, 29), 5)
    assert caught.value.code == "calendar_year_unknown"
    with pytest.raises(CalendarYearUnknown):
        cal.workdays_between(date(2026, 12, 29), date(2027, 1, 8))


def test_known_years_are_the_library_range_plus_loaded_years(cal: WorkdayCalendar) -> None:
    assert cal.known_years() == list(range(2004, 2027))
    cal.load_year(2027, [date(2027, 1, 1)], [])
    assert cal.known_years()[-2:] == [2026, 2027]


def test_loaded_2027_file_makes_deadlines_into_2027_work(tmp_path: Path) -> None:
    (tmp_path / "2027.toml").write_text(FIXTURE_2027, encoding="utf-8")
    cal = WorkdayCalendar.from_dirs(tmp_path)
    assert 2027 in cal.known_years()
    assert not cal.is_workday(date(2027, 1, 1))  # listed holiday (Friday)
    assert cal.is_workday(date(2027, 1, 9))  # listed working Saturday
    assert not cal.is_workday(date(2027, 1, 10))  # ordinary Sunday
    # Tue 29 Dec 2026: Wed 30, Thu 31, (Fri 1 off, weekend), Mon 4, Tue 5, Wed 6.
    assert cal.add_workdays(date(2026, 12, 29), 5) == date(2027, 1, 6)


def test_load_year_programmatically_overrides_the_library() -> None:
    cal = WorkdayCalendar()
    assert cal.is_workday(date(2026, 3, 2))
    cal.load_year(2026, [date(2026, 3, 2)], [], source="correction")
    assert not cal.is_workday(date(2026, 3, 2))
    assert cal.is_workday(date(2026, 10, 1))  # the loaded year replaces it whole


def test_admin_directory_under_govit_home_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "calendar").mkdir()
    (tmp_path / "calendar" / "2027.toml").write_text(FIXTURE_2027, encoding="utf-8")
    monkeypatch.setenv("GOVIT_HOME", str(tmp_path))
    assert load_calendar().is_workday(date(2027, 1, 9))


def test_missing_admin_directory_is_no_error(tmp_path: Path) -> None:
    assert read_year_dir(tmp_path / "absent") == []


def test_shipped_year_files_are_valid_and_cite_their_notice() -> None:
    assert all(s.source for s in read_year_dir(SHIPPED_YEARS_DIR))


def test_quoted_iso_dates_are_accepted(tmp_path: Path) -> None:
    path = tmp_path / "2027.toml"
    path.write_text(
        'source = "notice"\nholidays = ["2027-01-01"]\nworkdays = []\n', encoding="utf-8"
    )
    assert read_year_file(path).holidays == {date(2027, 1, 1)}


@pytest.mark.parametrize(
    ("name", "text", "complaint"),
    [
        ("2027.toml", 'source="n"\nholidays=[2026-12-31]\nworkdays=[]', "not in 2027"),
        ("2027.toml", 'source="n"\nholidays=[2027-01-01]\nworkdays=[2028-01-01]', "not in 2027"),
        (
            "2027.toml",
            'source="n"\nholidays=[2027-01-01, 2027-01-09]\nworkdays=[2027-01-09]',
            "both a holiday and a working day",
        ),
        ("2027.toml", 'source="n"\nholidays=[2027-01-01]\nworkdays=[2027-01-04]', "weekday"),
        ("2027.toml", 'source="n"\nholidays=[]\nworkdays=[]', "no holidays"),
        ("2027.toml", 'source="n"\nholiday=[2027-01-01]\nworkdays=[]', "exactly"),
        ("2027.toml", "holidays=[2027-01-01]\nworkdays=[]", "exactly"),
        ("2027.toml", 'source=" "\nholidays=[2027-01-01]\nworkdays=[]', "source"),
        ("2027.toml", 'source="n"\nholidays=["1 Jan"]\nworkdays=[]', "not a date"),
        ("2027.toml", 'source="n"\nholidays=[2027-01-01T08:00:00]\nworkdays=[]', "not a date"),
        ("2027.toml", 'source="n"\nholidays=2027-01-01\nworkdays=[]', "lists of dates"),
        ("2027.toml", "source = ", "2027.toml"),
        ("next-year.toml", 'source="n"\nholidays=[2027-01-01]\nworkdays=[]', "<year>.toml"),
    ],
)
def test_invalid_year_files_are_rejected(
    tmp_path: Path, name: str, text: str, complaint: str
) -> None:
    (tmp_path / name).write_text(text, encoding="utf-8")
    with pytest.raises(InvalidCalendarSchedule) as caught:
        WorkdayCalendar.from_dirs(tmp_path)
    assert (caught.value.status, caught.value.code) == (422, "calendar_schedule_invalid")
    assert complaint in caught.value.detail


def test_invalid_programmatic_schedule_is_rejected_and_not_loaded(cal: WorkdayCalendar) -> None:
    with pytest.raises(InvalidCalendarSchedule):
        cal.load_year(2027, [date(2027, 1, 1)], [date(2027, 1, 1)])
    with pytest.raises(CalendarYearUnknown):
        cal.is_workday(date(2027, 1, 4))


def test_every_2026_day_agrees_with_the_library(cal: WorkdayCalendar) -> None:
    day = date(2026, 1, 1)
    while day.year == 2026:
        assert cal.is_workday(day) == chinese_calendar.is_workday(day), day
        day += timedelta(days=1)
