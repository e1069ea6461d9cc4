"""The memoised next fire time is the one next_run computes, for every instant of a minute."""

from datetime import UTC, datetime, timedelta

import pytest

from perfmon.monitors import schedule


@pytest.mark.parametrize(("expression", "tz"), [
    ("* * * * *", "UTC"),
    ("*/15 * * * *", "Europe/Berlin"),
    ("30 2 * * *", "Europe/Berlin"),  # the skipped hour in spring
    ("0 1 * * *", "America/New_York"),  # the repeated hour in autumn
    ("*/30 * * * *", "Europe/London"),
    ("45 */2 * * 1-5", "Asia/Kathmandu"),  # a +05:45 zone
    ("0 0 29 2 *", "UTC"),  # leap days
])
def test_memoised_next_time_equals_next_run_at_any_second_of_the_minute(expression, tz):
    starts = [datetime(2026, 3, 29, 0, 0, tzinfo=UTC), datetime(2026, 11, 1, 4, 0, tzinfo=UTC),
              datetime(2027, 2, 28, 23, 58, tzinfo=UTC)]
    for start in starts:
        for minute in range(0, 240, 7):
            for offset in (timedelta(0), timedelta(seconds=1), timedelta(seconds=59, microseconds=999999)):
                after = start + timedelta(minutes=minute) + offset
                assert schedule.next_run_memo(expression, tz, after) == schedule.next_run(expression, tz, after)


def test_monitors_sharing_a_schedule_share_one_computation():
    schedule._next_run_in_minute.cache_clear()
    due = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
    answers = {schedule.next_run_memo("* * * * *", "UTC", due + timedelta(milliseconds=i)) for i in range(1000)}
    assert answers == {due + timedelta(minutes=1)}
    assert schedule._next_run_in_minute.cache_info().misses == 1


def test_an_unusable_schedule_still_raises():
    with pytest.raises(schedule.InvalidSchedule):
        schedule.next_run_memo("0 0 30 2 *", "UTC", datetime(2026, 1, 1, tzinfo=UTC))
