"""Cron schedules: validation and the next due time. Pure functions, no database.

A schedule is a classic five-field cron expression (minute, hour, day of
month, month, day of week) with numbers, names (``jan``, ``mon``), ``*``,
ranges, steps and lists, read in the monitor's IANA time zone.

Daylight-saving rules (the ones Vixie cron users expect):

* A wall-clock time that does not exist (the hour skipped in spring) fires
  at the same wall time shifted by the jump (``30 2 * * *`` fires at 03:30
  on that day), so a daily job still runs once.
* A wall-clock time that happens twice (the hour repeated in autumn) fires
  once, at its first occurrence, for schedules with a fixed hour; schedules
  whose hour field is ``*`` run by elapsed time and fire in both passes.
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterError, croniter

_NAMES = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec|sun|mon|tue|wed|thu|fri|sat)"
_ATOM = rf"(?:\d{{1,2}}|{_NAMES})"
_ITEM = rf"(?:\*|{_ATOM}(?:-{_ATOM})?)(?:/\d{{1,2}})?"
_FIELD = re.compile(rf"^{_ITEM}(?:,{_ITEM})*$", re.IGNORECASE)
_FIELD_NAMES = ("minute", "hour", "day of month", "month", "day of week")
# How far back (wall time) to look for candidates that fall in a repeated hour.
_FOLD_LOOKBACK = timedelta(hours=3)
_MAX_CANDIDATES = 2000


class InvalidSchedule(ValueError):
    """The expression or time zone cannot be used; the message says why."""


def validate(expression: str) -> str:
    """The normalised expression (single spaces). Raises InvalidSchedule."""
    if not isinstance(expression, str):
        raise InvalidSchedule("a schedule must be a string such as '*/15 * * * *'")
    fields = expression.split()
    if len(fields) != 5:
        raise InvalidSchedule(
            f"a schedule has five fields (minute hour day-of-month month day-of-week), got {len(fields)}"
        )
    for name, field in zip(_FIELD_NAMES, fields, strict=True):
        if not _FIELD.match(field):
            raise InvalidSchedule(f"the {name} field '{field}' is not a number, range, step, list or '*'")
    for name, field in zip(_FIELD_NAMES, fields, strict=True):
        for item in field.split(","):
            bounds = item.split("/")[0].split("-")
            if len(bounds) == 2 and bounds[0].isdigit() and bounds[1].isdigit() and int(bounds[0]) > int(bounds[1]):
                raise InvalidSchedule(f"the {name} range '{item}' runs backwards")
    normalised = " ".join(fields)
    if not croniter.is_valid(normalised):
        raise InvalidSchedule(f"'{normalised}' has a value out of range (minute 0-59, hour 0-23, day 1-31, month 1-12, weekday 0-7)")
    try:
        croniter(normalised, datetime(2000, 1, 1)).get_next(datetime)
    except Exception as exc:  # croniter raises several types for impossible schedules
        raise InvalidSchedule(f"'{normalised}' never fires: {exc}") from None
    return normalised


def zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name``. Raises InvalidSchedule."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise InvalidSchedule(f"unknown time zone '{name}' (use an IANA name such as Europe/Berlin)") from None


def _instants(wall: datetime, tz: ZoneInfo, both_folds: bool) -> list[datetime]:
    first = wall.replace(tzinfo=tz, fold=0)
    instants = [first.astimezone(UTC)]
    if both_folds:
        second = wall.replace(tzinfo=tz, fold=1).astimezone(UTC)
        if second != instants[0]:
            instants.append(second)
    return instants


def _fast_next(expression: str, tz: ZoneInfo, after: datetime) -> datetime | None:
    """next_run when no clock change is near: one croniter step instead of a scan.

    None when a transition is within the lookback window or the candidate's
    wall time is ambiguous or skipped; the caller then takes the careful path.
    """
    before, later = after - _FOLD_LOOKBACK, after + _FOLD_LOOKBACK
    if before.astimezone(tz).utcoffset() != later.astimezone(tz).utcoffset():
        return None
    wall = croniter(expression, after.astimezone(tz).replace(tzinfo=None)).get_next(datetime)
    first, second = wall.replace(tzinfo=tz, fold=0), wall.replace(tzinfo=tz, fold=1)
    if first.utcoffset() != second.utcoffset():
        return None  # ambiguous or skipped wall time
    instant = first.astimezone(UTC)
    return instant if instant > after else None


def next_run(expression: str, tz_name: str, after: datetime) -> datetime:
    """The first time strictly after ``after`` (aware) at which the schedule fires, in UTC.

    Raises InvalidSchedule when it never fires again, also for an expression
    stored before validation refused it (croniter's own errors included).
    """
    if after.tzinfo is None:
        raise ValueError("after must be timezone-aware")
    tz = zone(tz_name)
    try:
        return _next_run(expression, tz, after)
    except CroniterError as exc:
        raise InvalidSchedule(f"'{expression}' does not fire after {after.isoformat()}: {exc}") from None


def _next_run(expression: str, tz: ZoneInfo, after: datetime) -> datetime:
    fast = _fast_next(expression, tz, after)
    if fast is not None:
        return fast
    both_folds = expression.split()[1] == "*"
    local_after = after.astimezone(tz).replace(tzinfo=None)
    candidates = croniter(expression, local_after - _FOLD_LOOKBACK)
    best: datetime | None = None
    for _ in range(_MAX_CANDIDATES):
        wall = candidates.get_next(datetime)
        for instant in _instants(wall, tz, both_folds):
            if instant > after and (best is None or instant < best):
                best = instant
        # Past the lookback window, wall order and instant order agree again.
        if best is not None and wall > local_after + _FOLD_LOOKBACK:
            return best
    if best is None:
        raise InvalidSchedule(f"'{expression}' does not fire after {after.isoformat()}")
    return best


def next_run_memo(expression: str, tz_name: str, after: datetime) -> datetime:
    """``next_run``, memoised per (expression, time zone, minute of ``after``): the scheduler's hot path.

    The first fire time after the minute's start, when it is a whole UTC minute
    (always, for zones whose offsets are whole minutes: every zone today), is
    also the first after any instant of that minute: ten thousand ``* * * * *`` monitors due at 12:00 all
    get 12:01 from one croniter step. Anything else is computed afresh.
    Raises InvalidSchedule as ``next_run`` does (errors are not memoised).
    """
    if after.tzinfo is None:
        raise ValueError("after must be timezone-aware")
    minute = after.astimezone(UTC).replace(second=0, microsecond=0)
    found = _next_run_in_minute(expression, tz_name, minute)
    return found if found is not None else next_run(expression, tz_name, after)


@functools.lru_cache(maxsize=8192)
def _next_run_in_minute(expression: str, tz_name: str, minute: datetime) -> datetime | None:
    """The next fire time after any instant of ``minute`` (UTC), or None when that is not one answer."""
    found = next_run(expression, tz_name, minute)
    # A whole-minute answer is at least a minute after ``minute``: no fire time lies between.
    return found if found.second == 0 and found.microsecond == 0 else None


def fire_times(expression: str, tz_name: str, after: datetime, until: datetime, limit: int) -> list[datetime]:
    """The fire times in (after, until], at most ``limit`` of them (to count missed runs)."""
    times: list[datetime] = []
    moment = after
    while len(times) < limit:
        moment = next_run(expression, tz_name, moment)
        if moment > until:
            break
        times.append(moment)
    return times


@functools.lru_cache(maxsize=4096)
def describe(expression: str) -> str:
    """Human text for an expression ("Every 15 minutes"), or the expression itself if undescribable.

    Cached: cron-descriptor takes ~0.3 ms an expression, which was half of a
    200-monitor list's answer, and tenants reuse a few schedules.
    """
    try:
        from cron_descriptor import get_description

        return get_description(expression)
    except Exception:  # cron-descriptor raises its own types for odd input
        return expression


def min_interval(expression: str, tz_name: str, start: datetime, samples: int = 64) -> timedelta:
    """The shortest gap between consecutive fire times over the next ``samples`` firings."""
    times = fire_times(expression, tz_name, start, start + timedelta(days=800), samples + 1)
    if len(times) < 2:
        return timedelta(days=365)
    return min(later - earlier for earlier, later in zip(times, times[1:], strict=False))
