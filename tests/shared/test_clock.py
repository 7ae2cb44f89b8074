"""One clock: aware UTC "now", Asia/Shanghai "today", pinned in tests, shifted in dev."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from pydantic import ValidationError

from shared.clock import SHANGHAI, FixedClock, SystemClock
from shared.settings import GovitSettings


def test_now_is_aware_utc() -> None:
    now = SystemClock().now()
    assert now.utcoffset() == timedelta(0)
    assert abs(now - datetime.now(UTC)) < timedelta(seconds=5)


def test_today_is_the_date_in_shanghai_not_utc() -> None:
    # 17:30 UTC on 30 Sep is 01:30 on 1 Oct in Beijing.
    clock = FixedClock(datetime(2026, 9, 30, 17, 30, tzinfo=UTC))
    assert clock.today() == date(2026, 10, 1)
    assert clock.now().date() == date(2026, 9, 30)


def test_fixed_clock_reports_utc_whatever_zone_it_was_set_in() -> None:
    clock = FixedClock(datetime(2026, 10, 1, 9, 0, tzinfo=SHANGHAI))
    assert clock.now() == datetime(2026, 10, 1, 1, 0, tzinfo=UTC)
    assert clock.now().tzinfo is UTC


def test_fixed_clock_moves_only_when_set_or_advanced() -> None:
    clock = FixedClock(datetime(2026, 9, 30, 9, 0, tzinfo=SHANGHAI))
    assert clock.now() == clock.now()
    clock.advance(timedelta(days=8))
    assert clock.today() == date(2026, 10, 8)
    clock.set(datetime(2027, 1, 1, 0, 0, tzinfo=SHANGHAI))
    assert clock.today() == date(2027, 1, 1)


def test_naive_datetime_is_refused() -> None:
    with pytest.raises(ValueError):
        FixedClock(datetime(2026, 9, 30, 9, 0))  # naive on purpose


def test_offset_shifts_now_and_today_by_whole_days() -> None:
    shifted, real = SystemClock(offset_days=3).now(), datetime.now(UTC)
    assert abs(shifted - real - timedelta(days=3)) < timedelta(seconds=5)
    clock = SystemClock(offset_days=3)
    assert clock.today() == clock.now().astimezone(SHANGHAI).date()


def test_an_app_takes_its_clock_offset_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    from services.approval.app import build_app

    monkeypatch.setenv("GOVIT_CLOCK_OFFSET_DAYS", "-2")
    clock = build_app().state.clock
    assert isinstance(clock, SystemClock)
    assert clock.offset == timedelta(days=-2)


def test_production_refuses_a_shifted_clock() -> None:
    with pytest.raises(ValidationError, match="GOVIT_CLOCK_OFFSET_DAYS"):
        GovitSettings(
            environment="production", clock_offset_days=1, jwks_url="https://id.example/jwks"
        )
