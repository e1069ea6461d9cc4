"""A run's interval series for display: stored at 1 s, merged exactly into fewer points.

Storage keeps every point the agent sent. A long run's series is merged for
the API (``maxPoints``) and the dashboard's charts by adding neighbours:
counts and errors add, the rate is the merged count divided by the merged
covered time, and percentiles come from the merged HDR histograms, so a
merged point is exactly what one interval of its length would have shown.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from perfmon.runs.models import Run, SeriesPoint
from runners.histogram import LatencyHistogram

#: the most points a chart draws; longer runs are merged down to it (10 min of 1 s points)
CHART_MAX_POINTS = 600
_FIELDS = ("seq", "start", "interval_s", "covered_s", "count", "errors", "p50_ms", "p95_ms", "p99_ms",
           "throughput_rps")


@dataclass(frozen=True, slots=True)
class Interval:
    """One point of a displayed series: a stored point, or several merged."""

    seq: int  # the last merged point's seq, so reading on `after` it continues with the next
    start: datetime
    interval_s: float
    covered_s: float
    count: int
    errors: int
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    throughput_rps: float

    @property
    def end(self) -> datetime:
        return self.start + timedelta(seconds=self.interval_s)


def points(tenant, run: Run, *, after_seq: int = -1, limit: int | None = None,
           max_points: int | None = None) -> list[Interval]:
    """The run's series after ``after_seq`` in order, merged into at most ``max_points`` when given.

    Without ``max_points`` the stored points are returned as they are (at
    most ``limit``), without loading their histograms; merging reads them.
    """
    rows = SeriesPoint.objects.for_tenant(tenant).filter(run=run, seq__gt=after_seq).order_by("seq")
    if max_points is None:
        rows = rows.values(*_FIELDS)
        return [_interval(row) for row in (rows[:limit] if limit is not None else rows)]
    stored = list(rows.values(*_FIELDS, "histogram"))
    size = max(1, math.ceil(len(stored) / max_points))
    return [_merge(stored[index:index + size]) for index in range(0, len(stored), size)]


def _covered(row: dict) -> float:
    return row["interval_s"] if row["covered_s"] is None else row["covered_s"]


def _interval(row: dict) -> Interval:
    return Interval(
        seq=row["seq"], start=row["start"], interval_s=row["interval_s"], covered_s=_covered(row),
        count=row["count"], errors=row["errors"], p50_ms=row["p50_ms"], p95_ms=row["p95_ms"],
        p99_ms=row["p99_ms"], throughput_rps=row["throughput_rps"],
    )


def _merge(rows: list[dict]) -> Interval:
    if len(rows) == 1:
        return _interval(rows[0])
    first, last = rows[0], rows[-1]
    span = (last["start"] - first["start"]).total_seconds() + last["interval_s"]
    covered = sum(_covered(row) for row in rows)
    count = sum(row["count"] for row in rows)
    histogram = LatencyHistogram.merged(
        LatencyHistogram.decode(row["histogram"]) for row in rows if row["count"] and row["histogram"]
    )
    if histogram.count:
        pct = histogram.percentiles((50, 95, 99))
        p50, p95, p99 = pct[50], pct[95], pct[99]
    else:
        p50 = p95 = p99 = 0.0 if count == 0 else None
    return Interval(
        seq=last["seq"], start=first["start"], interval_s=span, covered_s=covered, count=count,
        errors=sum(row["errors"] for row in rows), p50_ms=p50, p95_ms=p95, p99_ms=p99,
        throughput_rps=count / covered if covered > 0 else 0.0,
    )
