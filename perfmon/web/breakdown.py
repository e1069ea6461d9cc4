"""A run's per-request breakdown as the run page shows it: requests, errors by cause, checks, histogram.

What is read is stored on the run row (``Run.requests``: runners.requests.RequestEntry
dicts, ``Run.checks``, ``Run.histogram``), so the page pays no query per request name,
however many names there are. The readers are tolerant: an entry that is not an
object is left out and a figure that is missing or not a number reads as None, so a
row written by an older agent (or by hand) shows dashes instead of a 500.
"""

from __future__ import annotations

import heapq
import operator
from collections import Counter
from collections.abc import Mapping

from perfmon.runs.breakdown import (
    count_of,
    counts_of,
    decoded_histogram,
    entries_of,
    is_other,
    number,
    sample_of,
)
from perfmon.runs.breakdown import histogram_buckets as shared_buckets
from runners.histogram import LatencyHistogram

HISTOGRAM_BUCKETS = 30
MAX_ERROR_ROWS = 100  # (name, cause) rows on the page; the rest are counted in a note
# A request row's latency figures: the row's key and the RequestEntry key it reads.
FIGURES = (("p50", "p50_ms"), ("p90", "p90_ms"), ("p95", "p95_ms"), ("p99", "p99_ms"),
           ("avg", "avg_ms"), ("min", "min_ms"), ("max", "max_ms"), ("rps", "throughput_rps"))


def _status_order(code: str):
    return (0, int(code)) if code.isdigit() else (1, code)


def request_rows(requests) -> list[dict]:
    """One row per request name, busiest first (ties by name; ``other`` last).

    ``status_codes`` is a list of (code, count) in code order; ``error_pct``
    is a percentage (None without requests), the latency figures are ms and
    ``rps`` is the name's throughput.
    """
    rows = []
    for entry in entries_of(requests):
        count, errors = count_of(entry.get("count")), count_of(entry.get("errors"))
        codes = counts_of(entry.get("status_codes"))
        row = {
            "name": str(entry.get("name", "")), "method": str(entry.get("method", "")),
            "count": count, "errors": errors, "error_pct": 100.0 * errors / count if count else None,
            "status_codes": sorted(codes.items(), key=lambda item: _status_order(item[0])),
        }
        row.update({key: number(entry.get(stored)) if count else None for key, stored in FIGURES})
        rows.append(row)
    return sorted(rows, key=lambda r: (is_other(r), -r["count"], r["name"], r["method"]))


def error_rows(requests, *, limit: int | None = None) -> tuple[list[dict], int]:
    """(the errors by request name and cause, the most frequent first; how many (name, cause) there are).

    Only the first ``limit`` rows are built when given (a capped breakdown
    may hold 300 names of 20 causes each). Each row has the cause's count,
    the status codes of its kept samples (the breakdown keeps the first few
    errors of each name) and those samples; a cause whose errors all came
    after the kept ones has none.
    """
    causes = []
    for entry in entries_of(requests):
        name, method = str(entry.get("name", "")), str(entry.get("method", ""))
        causes.extend((-count, name, method, cause, entry)
                      for cause, count in counts_of(entry.get("causes")).items() if count)
    total = len(causes)
    key = operator.itemgetter(0, 1, 2, 3)
    kept = sorted(causes, key=key) if limit is None else heapq.nsmallest(limit, causes, key=key)
    rows = []
    for negative, name, method, cause, entry in kept:
        own = [sample_of(s) for s in entry.get("samples") or [] if isinstance(s, Mapping) and str(s.get("cause")) == cause]
        codes = Counter(str(s["status"]) for s in own)
        rows.append({"name": name, "method": method, "cause": cause, "count": -negative, "samples": own,
                     "status_codes": sorted(codes.items(), key=lambda item: _status_order(item[0]))})
    return rows, total


def check_rows(checks) -> list[dict]:
    """``[{name, passes, fails, pass_pct}]``: failing checks first (most fails first), then by name."""
    if not isinstance(checks, Mapping):
        return []
    rows = []
    for name, figures in checks.items():
        figures = figures if isinstance(figures, Mapping) else {}
        passes, fails = count_of(figures.get("passes")), count_of(figures.get("fails"))
        rows.append({"name": str(name), "passes": passes, "fails": fails,
                     "pass_pct": 100.0 * passes / (passes + fails) if passes + fails else None})
    return sorted(rows, key=lambda r: (-r["fails"], r["name"]))


# --- the latency histogram ------------------------------------------------------------------------

def decoded(encoded: str, *, owner: str = "") -> LatencyHistogram:
    """The stored histogram (an empty one when there is none or it cannot be decoded)."""
    return decoded_histogram(encoded, owner=owner)


def histogram_buckets(hist: LatencyHistogram, buckets: int = HISTOGRAM_BUCKETS, *,
                      min_ms: float | None = None, max_ms: float | None = None) -> list[dict]:
    """The page's histogram ranges: perfmon.runs.breakdown.histogram_buckets with HISTOGRAM_BUCKETS."""
    return shared_buckets(hist, buckets, min_ms=min_ms, max_ms=max_ms)


def run_histogram(encoded: str, metrics: Mapping | None, *, owner: str = "") -> list[dict]:
    """The run's latency histogram as buckets (histogram_buckets), bounded by its summary's exact min and max."""
    metrics = metrics if isinstance(metrics, Mapping) else {}
    return histogram_buckets(decoded(encoded, owner=owner),
                             min_ms=number(metrics.get("min_ms")), max_ms=number(metrics.get("max_ms")))


def page_context(source, histogram: str, *, owner: str = "") -> dict:
    """What the run page's per-request analysis shows of ``source``: a run, or one part of a split run.

    Both keep the same breakdown in-row (``requests``, ``checks``, ``metrics``);
    ``histogram`` is the source's encoded histogram, ``owner`` names it in the
    log when it cannot be decoded.
    """
    errors, causes = error_rows(source.requests, limit=MAX_ERROR_ROWS)
    return {
        "requests": request_rows(source.requests),
        "errors": errors,
        "errors_left_out": causes - len(errors),
        "checks": check_rows(source.checks),
        "histogram": run_histogram(histogram, source.metrics, owner=owner or f"run {source.pk}"),
    }
