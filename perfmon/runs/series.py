"""A run's interval series for display: stored at 1 s, merged exactly into fewer points.

Storage keeps every point the agent sent. A long run's series is merged for
the API (``maxPoints``) and the dashboard's charts by adding neighbours:
counts and errors add, the rate is the merged count divided by the merged
covered time, and percentiles come from the merged HDR histograms, so a
merged point is exactly what one interval of its length would have shown.

A split run's parts stream their own points on one grid (epoch multiples
of the interval); its series is the parts merged side by side, interval by
interval: counts add, the rate is the sum of the parts' rates, percentiles
come from the merged histograms. Its ``seq`` is the interval's number on
that grid from the run's first interval. ``part=`` reads one part alone.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from perfmon.runs.models import Run, SeriesPoint
from runners.errors import ParseError
from runners.histogram import LatencyHistogram

log = logging.getLogger(__name__)

#: the most points a chart draws; longer runs are merged down to it (10 min of 1 s points)
CHART_MAX_POINTS = 600
#: the part index under which a concluded split run's merged series is stored
MERGED_PART = 32767

_FIELDS = ("seq", "start", "interval_s", "covered_s", "count", "errors", "p50_ms", "p95_ms", "p99_ms",
           "throughput_rps", "p90_ms", "vus")


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
    p90_ms: float | None = None
    vus: int | None = None  # the most virtual users active in it (a split run's: the parts' added up)

    @property
    def end(self) -> datetime:
        return self.start + timedelta(seconds=self.interval_s)


def points(tenant, run: Run, *, after_seq: int = -1, limit: int | None = None,
           max_points: int | None = None, part: int | None = None) -> list[Interval]:
    """The run's series after ``after_seq`` in order, merged into at most ``max_points`` when given.

    Without ``max_points`` the stored points are returned as they are (at
    most ``limit``), without loading their histograms; merging reads them.
    A split run's parts are merged side by side unless ``part`` picks one.
    """
    if run.is_split and part is None:
        if not run.is_final or not SeriesPoint.all_tenants.filter(run=run, part=MERGED_PART).exists():
            return _split_points(tenant, run, after_seq=after_seq, limit=limit, max_points=max_points)
        part = MERGED_PART  # a concluded split run's merge, stored once (store_merged)
    rows = (SeriesPoint.objects.for_tenant(tenant).filter(run=run, part=part or 0, seq__gt=after_seq)
            .order_by("seq"))
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
        p99_ms=row["p99_ms"], throughput_rps=row["throughput_rps"], p90_ms=row["p90_ms"], vus=row["vus"],
    )


def _histograms(rows: list[dict]):
    """The rows' histograms; one an agent sent that does not decode is left out of the merge, and
    logged (the point's own figures still count), so a bad point never breaks a run's charts."""
    for row in rows:
        if row["count"] and row["histogram"]:
            try:
                yield LatencyHistogram.decode(row["histogram"])
            except ParseError as exc:
                log.warning("series point %s of run %s has a histogram that does not decode (%s); "
                            "left out of merged percentiles", row.get("seq"), row.get("run_id", "?"), exc)


def _merge(rows: list[dict]) -> Interval:
    if len(rows) == 1:
        return _interval(rows[0])
    first, last = rows[0], rows[-1]
    span = (last["start"] - first["start"]).total_seconds() + last["interval_s"]
    covered = sum(_covered(row) for row in rows)
    count = sum(row["count"] for row in rows)
    histogram = LatencyHistogram.merged(_histograms(rows))
    if histogram.count:
        pct = histogram.percentiles((50, 90, 95, 99))
        p50, p90, p95, p99 = pct[50], pct[90], pct[95], pct[99]
    else:
        p50 = p90 = p95 = p99 = 0.0 if count == 0 else None
    vus = [row["vus"] for row in rows if row.get("vus") is not None]
    return Interval(
        seq=last["seq"], start=first["start"], interval_s=span, covered_s=covered, count=count,
        errors=sum(row["errors"] for row in rows), p50_ms=p50, p95_ms=p95, p99_ms=p99,
        throughput_rps=count / covered if covered > 0 else 0.0, p90_ms=p90, vus=max(vus) if vus else None,
    )


def store_merged(run: Run) -> int:
    """Store a concluded split run's merged series (part MERGED_PART), so reading it merges nothing.

    Called once every part has ended (no part's series changes after that);
    again, it replaces what it stored. Returns the number of points stored.
    """
    merged = _side_by_side_rows(SeriesPoint.all_tenants.filter(run=run), after_seq=-1)
    SeriesPoint.all_tenants.filter(run=run, part=MERGED_PART).delete()
    SeriesPoint.all_tenants.bulk_create(
        SeriesPoint(run_id=run.pk, part=MERGED_PART, **row)
        for row in merged
    )
    return len(merged)


def _split_points(tenant, run: Run, *, after_seq: int, limit: int | None, max_points: int | None) -> list[Interval]:
    merged = _side_by_side_rows(SeriesPoint.objects.for_tenant(tenant).filter(run=run), after_seq=after_seq)
    if max_points is None:
        return [_interval(row) for row in (merged[:limit] if limit is not None else merged)]
    size = max(1, math.ceil(len(merged) / max_points))
    return [_merge(merged[index:index + size]) for index in range(0, len(merged), size)]


def _side_by_side_rows(points, *, after_seq: int) -> list[dict]:
    rows = list(points.filter(part__lt=MERGED_PART).order_by("start", "part").values(*_FIELDS, "part", "histogram"))
    if not rows:
        return []
    first = rows[0]["start"]
    grid = min(row["interval_s"] for row in rows)  # the agents' interval; edge points may span two
    # The parts ran side by side: points that overlap in time (the same interval, or an edge point
    # one part joined into its neighbour) make one merged point, so no two points cover the same time.
    groups: list[list[dict]] = []
    group_end = None
    for row in rows:
        row_end = row["start"] + timedelta(seconds=row["interval_s"])
        if groups and row["start"] < group_end:
            groups[-1].append(row)
            group_end = max(group_end, row_end)
        else:
            groups.append([row])
            group_end = row_end
    merged = []
    for group in groups:
        seq = round((group[0]["start"] - first).total_seconds() / grid)  # the grid interval it starts in
        if seq > after_seq:
            merged.append(_side_by_side(seq, group))
    return merged


def _side_by_side(seq: int, rows: list[dict]) -> dict:
    """One stored-point-shaped row for the parts' points of one span of time (they ran at the same time)."""
    count = sum(row["count"] for row in rows)
    histogram = LatencyHistogram.merged(_histograms(rows))
    pct = histogram.percentiles((50, 90, 95, 99)) if histogram.count else {}
    start = rows[0]["start"]
    end = max(row["start"] + timedelta(seconds=row["interval_s"]) for row in rows)
    per_part: dict[int, list[dict]] = {}
    for row in rows:
        per_part.setdefault(row["part"], []).append(row)
    # Each part's rate is its count over the time it covered; the parts' rates add up.
    covered = {part: sum(_covered(row) for row in own) for part, own in per_part.items()}
    throughput = sum(sum(row["count"] for row in own) / covered[part]
                     for part, own in per_part.items() if covered[part] > 0)
    longest = max(covered.values())
    # The parts' users were active at once: each part's most, added up.
    vus = [max(v) for v in ([row["vus"] for row in own if row["vus"] is not None] for own in per_part.values()) if v]
    return {
        "seq": seq, "start": start, "interval_s": (end - start).total_seconds(),
        "covered_s": longest, "count": count, "errors": sum(row["errors"] for row in rows),
        "p50_ms": pct.get(50), "p95_ms": pct.get(95), "p99_ms": pct.get(99), "p90_ms": pct.get(90),
        "vus": sum(vus) if vus else None, "throughput_rps": throughput,
        "histogram": histogram.encode() if histogram.count else "",
    }
