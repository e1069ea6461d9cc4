"""A run's summary metrics in one shape, whatever keys the stored result used.

``Run.metrics`` holds the figures of runners' Result (``p50_ms``,
``error_rate``, ``count``, …). Both facades read them through
``summary_metrics`` and only rename the keys, so a change in storage is
absorbed here once. Every value is None while a run has no result.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

# summary key -> the keys it may be stored under, first match wins.
_SOURCES: dict[str, tuple[str, ...]] = {
    "p50": ("p50_ms", "p50"),
    "p95": ("p95_ms", "p95"),
    "p99": ("p99_ms", "p99"),
    "avg": ("avg_ms", "avg"),
    "min": ("min_ms", "min"),
    "max": ("max_ms", "max"),
    "error_rate": ("error_rate", "errorRate"),
    "throughput": ("throughput_rps", "throughput", "requests_per_sec"),
    "total_requests": ("count", "total_requests", "totalRequests"),
    "apdex": ("apdex",),
}
SUMMARY_KEYS = tuple(_SOURCES)


def _value(raw):
    if isinstance(raw, bool) or raw is None:
        return None
    if isinstance(raw, int):
        return raw
    try:
        number = float(raw)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def summary_metrics(metrics: Mapping | None) -> dict[str, float | int | None]:
    """The summary figures of a run (snake_case keys); None for each figure not (yet) known."""
    metrics = metrics or {}
    out: dict[str, float | int | None] = {}
    for key, sources in _SOURCES.items():
        out[key] = next((_value(metrics[name]) for name in sources if name in metrics), None)
    if out["total_requests"] is not None:
        out["total_requests"] = int(out["total_requests"])
    return out
