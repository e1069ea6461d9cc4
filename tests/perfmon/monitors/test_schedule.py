"""next_run and validate: the pure schedule functions."""

from datetime import UTC, datetime, timedelta

import pytest

from perfmon.monitors.schedule import InvalidSchedule, describe, fire_times, next_run, validate, zone

UTC = UTC


def at(*args):
    return datetime(*args, tzinfo=UTC)


def local(moment, tz):
    return moment.astimezone(zone(tz)).strftime("%Y-%m-%d %H:%M %Z")


@pytest.mark.parametrize(
    ("expr", "after", "expected"),
    [
        ("*/15 * * * *", at(2026, 1, 1, 10, 7), at(2026, 1, 1, 10, 15)),
        ("*/15 * * * *", at(2026, 1, 1, 10, 15), at(2026, 1, 1, 10, 30)),  # strictly after
        ("0,30 9-17 * * *", at(2026, 1, 1, 17, 31), at(2026, 1, 2, 9, 0)),
        ("0 12 * * mon-fri", at(2026, 1, 2, 13), at(2026, 1, 5, 12)),  # Fri -> Mon
        ("0 0 31 * *", at(2026, 4, 1), at(2026, 5, 31)),  # April has no 31st
        ("0 0 29 2 *", at(2026, 3, 1), at(2028, 2, 29)),  # next leap day
        ("59 23 L * *".replace(" L", " 28-31"), at(2026, 2, 28, 23, 59), at(2026, 3, 28, 23, 59)),
        ("0 0 1 */3 *", at(2026, 2, 1), at(2026, 4, 1)),
        ("5 4 * * 0", at(2026, 1, 1), at(2026, 1, 4, 4, 5)),  # Sunday as 0
        ("5 4 * * 7", at(2026, 1, 1), at(2026, 1, 4, 4, 5)),  # ... and as 7
    ],
)
def test_next_run_in_utc(expr, after, expected):
    assert next_run(validate(expr), "UTC", after) == expected


def test_time_zone_is_applied():
    # 09:00 in New York is 14:00 UTC in winter.
    assert next_run("0 9 * * *", "America/New_York", at(2026, 1, 10)) == at(2026, 1, 10, 14)


def test_spring_forward_fires_skipped_wall_time_once_after_the_jump():
    # Europe/Berlin skips 02:00-03:00 on 2026-03-29.
    fired = next_run("30 2 * * *", "Europe/Berlin", at(2026, 3, 28, 12))
    assert local(fired, "Europe/Berlin") == "2026-03-29 03:30 CEST"
    assert local(next_run("30 2 * * *", "Europe/Berlin", fired), "Europe/Berlin") == "2026-03-30 02:30 CEST"


def test_fall_back_fixed_hour_fires_once():
    # Berlin repeats 02:00-03:00 on 2026-10-25.
    first = next_run("30 2 * * *", "Europe/Berlin", at(2026, 10, 24, 12))
    assert first == at(2026, 10, 25, 0, 30)  # the first 02:30 (CEST)
    assert local(next_run("30 2 * * *", "Europe/Berlin", first), "Europe/Berlin") == "2026-10-26 02:30 CET"


def test_fall_back_wildcard_hour_runs_by_elapsed_time():
    times = fire_times("*/30 * * * *", "Europe/Berlin", at(2026, 10, 24, 23, 59), at(2026, 10, 25, 3, 1), 100)
    gaps = {later - earlier for earlier, later in zip(times, times[1:], strict=False)}
    assert gaps == {timedelta(minutes=30)}
    assert len(times) == 7  # 00:00..03:00 UTC: both passes of the repeated hour


def test_fire_times_is_bounded():
    assert len(fire_times("* * * * *", "UTC", at(2026, 1, 1), at(2026, 2, 1), 10)) == 10


@pytest.mark.parametrize(
    "bad",
    ["", "* * * *", "* * * * * *", "@hourly", "61 * * * *", "* 24 * * *", "* * 0 * *", "* * * 13 *",
     "* * * * 8", "*/0 * * * *", "5-1 * * * *", "L * * * *", "H * * * *", "? * * * *", "1,,2 * * * *",
     "* * * * mon#2", "abc * * * *", None, 5],
)
def test_invalid_expressions_are_rejected_with_a_reason(bad):
    with pytest.raises(InvalidSchedule) as err:
        validate(bad)
    assert str(err.value)


def test_validate_normalises_spacing_and_accepts_names():
    assert validate("  0  9 * jan-mar MON,wed ") == "0 9 * jan-mar MON,wed"


def test_unknown_time_zone_is_rejected():
    with pytest.raises(InvalidSchedule, match="unknown time zone"):
        next_run("* * * * *", "Mars/Olympus", at(2026, 1, 1))


def test_describe_gives_human_text():
    assert describe("*/15 * * * *") == "Every 15 minutes"


def test_fast_path_agrees_with_the_careful_scan():
    """The one-step path used away from clock changes gives what the full scan gives."""
    import random

    from perfmon.monitors import schedule

    rng = random.Random(7)
    expressions = ["* * * * *", "*/7 * * * *", "30 2 * * *", "0 9-17/2 * * mon-fri", "15 0 1,15 * *"]
    zones = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe"]
    checked = 0
    for _ in range(400):
        expr, tz_name = rng.choice(expressions), rng.choice(zones)
        after = at(2026, 1, 1) + timedelta(minutes=rng.randrange(0, 365 * 24 * 60))
        fast = schedule._fast_next(expr, zone(tz_name), after)
        if fast is None:
            continue
        original = schedule._fast_next
        try:
            schedule._fast_next = lambda *args: None  # force the scan
            assert next_run(expr, tz_name, after) == fast, (expr, tz_name, after)
        finally:
            schedule._fast_next = original
        checked += 1
    assert checked > 300
