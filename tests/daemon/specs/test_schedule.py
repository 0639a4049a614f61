"""Fire times: cron read in the workflow's time zone, returned in UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from daemon.core.errors import UserError
from daemon.specs import next_fire_times, next_run

UTC = UTC


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_cron_is_read_in_the_workflow_time_zone() -> None:
    assert next_run("0 9 * * *", "Asia/Seoul", at(2024, 5, 1, 12)) == at(2024, 5, 2, 0)
    assert next_run("0 9 * * *", "UTC", at(2024, 5, 1, 8)) == at(2024, 5, 1, 9)


def test_results_are_aware_utc_and_strictly_after() -> None:
    times = next_fire_times("*/15 * * * *", "Asia/Seoul", at(2024, 5, 1, 0, 0), 3)
    assert times == [at(2024, 5, 1, 0, 15), at(2024, 5, 1, 0, 30), at(2024, 5, 1, 0, 45)]
    assert all(t.tzinfo is UTC for t in times)


def test_after_in_another_zone_is_the_same_instant() -> None:
    after = at(2024, 5, 1, 12).astimezone(ZoneInfo("America/Los_Angeles"))
    assert next_run("0 9 * * *", "Asia/Seoul", after) == at(2024, 5, 2, 0)


def test_new_york_daily_run_keeps_local_time_across_dst() -> None:
    # Spring forward on 2024-03-10: 09:00 EST is 14:00 UTC, 09:00 EDT is 13:00 UTC.
    times = next_fire_times("0 9 * * *", "America/New_York", at(2024, 3, 9), 3)
    assert times == [at(2024, 3, 9, 14), at(2024, 3, 10, 13), at(2024, 3, 11, 13)]
    # Fall back on 2024-11-03.
    times = next_fire_times("0 9 * * *", "America/New_York", at(2024, 11, 2), 2)
    assert times == [at(2024, 11, 2, 13), at(2024, 11, 3, 14)]


def test_new_york_hourly_run_across_the_skipped_and_repeated_hour() -> None:
    spring = next_fire_times("0 * * * *", "America/New_York", at(2024, 3, 10, 5, 30), 3)
    assert spring == [at(2024, 3, 10, 6), at(2024, 3, 10, 7), at(2024, 3, 10, 8)]
    fall = next_fire_times("0 * * * *", "America/New_York", at(2024, 11, 3, 4, 30), 3)
    assert fall == [at(2024, 11, 3, 5), at(2024, 11, 3, 6), at(2024, 11, 3, 7)]
    assert all(b - a == timedelta(hours=1) for a, b in zip(fall, fall[1:], strict=False))


def test_naive_after_is_a_bug() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        next_run("0 9 * * *", "UTC", datetime(2024, 1, 1))


def test_invalid_cron_or_zone_is_a_user_error() -> None:
    with pytest.raises(UserError, match="not a valid 5-field cron expression"):
        next_run("0 9 * *", "UTC", at(2024, 1, 1))
    with pytest.raises(UserError, match="never fires"):
        next_run("0 0 30 2 *", "UTC", at(2024, 1, 1))
    with pytest.raises(UserError, match='Unknown time zone "Mars/Base"'):
        next_run("0 9 * * *", "Mars/Base", at(2024, 1, 1))
