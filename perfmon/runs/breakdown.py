"""Reading a run's stored per-request breakdown, tolerantly, for every surface that shows it.

The breakdown is ``Run.requests`` (runners.requests.RequestEntry dicts),
``Run.checks`` and ``Run.histogram`` (the same on a split run's parts), stored
as the agent reported them. These readers never trust its shape: an entry that
is not an object is left out and a figure that is missing or not a number
reads as None (a count as 0), so a row written by an older agent (or by hand)
never turns an answer into a 500. /api (perfmon/api/monitor/breakdown.py) and
the run page (perfmon/web/breakdown.py) shape rows from them.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from datetime import UTC, datetime

from runners.errors import ParseError
from runners.histogram import LatencyHistogram
from runners.requests import OTHER

log = logging.getLogger(__name__)

# Histogram bucket edges are shown to this many significant digits.
EDGE_DIGITS = 3


def number(raw) -> float | None:
    """A finite number, or None for anything else (booleans, text, NaN)."""
    if isinstance(raw, bool) or raw is None:
        return None
    try:
        value = float(raw)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def count_of(raw) -> int:
    """A count: a number from 0 as an int, else 0."""
    value = number(raw)
    return int(value) if value is not None and value >= 0 else 0


def counts_of(raw) -> dict[str, int]:
    """``{key: count}`` of an object of counts (status codes, causes); {} for anything else."""
    return {str(key): count_of(value) for key, value in raw.items()} if isinstance(raw, Mapping) else {}


def entries_of(raw) -> list[Mapping]:
    """The stored entries that are objects."""
    return [entry for entry in raw if isinstance(entry, Mapping)] if isinstance(raw, list) else []


def is_other(row: Mapping) -> bool:
    """The bucket of every name past the cap (runners.requests.OTHER), listed last."""
    return row["name"] == OTHER and row["method"] == ""


def sample_of(sample: Mapping) -> dict:
    """One kept error sample: ``{"at": datetime or None, "status", "message"}``."""
    ts = number(sample.get("ts"))
    try:
        at = datetime.fromtimestamp(ts, UTC) if ts is not None else None
    except (OverflowError, OSError, ValueError):
        at = None
    return {"at": at, "status": count_of(sample.get("status")), "message": str(sample.get("message") or "")}


def decoded_histogram(encoded: str, *, owner: str = "") -> LatencyHistogram:
    """The stored histogram; an empty one when there is none, or when it cannot be decoded (logged)."""
    if not encoded:
        return LatencyHistogram()
    try:
        return LatencyHistogram.decode(encoded)
    except ParseError as exc:
        log.warning("%s: the stored histogram cannot be decoded: %s", owner or "a run", exc)
        return LatencyHistogram()


def _edge(value: float, rounding) -> float:
    """``value`` to EDGE_DIGITS significant digits, rounded with ``rounding`` (math.floor, math.ceil or round)."""
    step = 10.0 ** (math.floor(math.log10(value)) - EDGE_DIGITS + 1)
    nudge = {math.floor: 1e-9, math.ceil: -1e-9}.get(rounding, 0.0)  # 0.042 / 1e-4 is 419.99999999999994
    return round(rounding(value / step + nudge) * step, 9)


def histogram_buckets(hist: LatencyHistogram, buckets: int, *, min_ms: float | None = None,
                      max_ms: float | None = None) -> list[dict]:
    """The histogram's samples in at most ``buckets`` log-spaced ranges from its lowest to its highest latency.

    ``[{"from_ms", "to_ms", "count"}]`` in order. The counts are exact and add
    up to the histogram's count: a sample is counted in the range holding its
    histogram bucket (0.1 % wide), so one within 0.1 % of an edge may sit on
    either side of it. Edges have EDGE_DIGITS significant digits (the first
    rounded down and the last up, so the ranges hold every sample); ranges
    rounding leaves without width are dropped, so there may be fewer than
    asked. ``min_ms``/``max_ms`` are the exact extremes when known (the run's
    summary); the histogram's own are its buckets' bounds.
    """
    total = hist.count
    if total == 0:
        return []
    low, high = hist.min_ms, hist.max_ms
    if min_ms is not None and max_ms is not None and 0 < min_ms <= max_ms:
        low, high = min_ms, max_ms
    low, high = max(low, 0.001), max(high, 0.001)
    first, last = _edge(low, math.floor), _edge(high, math.ceil)
    edges = [first]
    for i in range(1, buckets):
        edge = _edge(low * (high / low) ** (i / buckets), round)
        if edges[-1] < edge < last:
            edges.append(edge)
    edges.append(last)  # first == last: every sample within one histogram bucket
    cumulative = [0, *hist.counts_at_or_below(edges[1:-1]), total]
    return [{"from_ms": edges[i], "to_ms": edges[i + 1], "count": cumulative[i + 1] - cumulative[i]}
            for i in range(len(edges) - 1)]
