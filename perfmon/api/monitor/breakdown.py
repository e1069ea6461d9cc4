"""A run's per-request breakdown as /api shows it: requests, errors by cause, checks, the latency
histogram's buckets, and several runs compared.

The stored breakdown is ``Run.requests`` (runners.requests.RequestEntry dicts),
``Run.checks`` and ``Run.histogram`` (the same on a split run's parts). These
functions only read it, tolerantly: an entry that is not an object is left
out and a figure that is missing or not a number reads as None, so a row
written by an older agent (or by hand) never turns an answer into a 500.
Every function is pure and answers snake_case rows for the serializers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from django.conf import settings
from rest_framework.exceptions import ValidationError

from perfmon.api.common.casing import camel
from perfmon.api.common.fields import ascii_integer
from perfmon.api.common.metrics import SUMMARY_KEYS, summary_metrics
from perfmon.runs import breakdown as shared
from perfmon.runs.breakdown import count_of, counts_of, entries_of, is_other, number, sample_of
from runners.histogram import LatencyHistogram

# A request's figure on the wire -> the RequestEntry key it is read from.
REQUEST_FIGURES: dict[str, str] = {
    "p50": "p50_ms", "p90": "p90_ms", "p95": "p95_ms", "p99": "p99_ms",
    "avg": "avg_ms", "min": "min_ms", "max": "max_ms", "throughput": "throughput_rps",
}
# What a comparison shows per request name, in this order.
COMPARED_REQUEST_FIGURES = ("count", "errors", "error_rate", *REQUEST_FIGURES)

HISTOGRAM_DEFAULT_BUCKETS = 30
HISTOGRAM_MAX_BUCKETS = 100


# --- requests ----------------------------------------------------------------------------------

def request_row(entry: Mapping) -> dict:
    """One stored entry as the /requests row: counts, status codes and figures (ms, req/s)."""
    count, errors = count_of(entry.get("count")), count_of(entry.get("errors"))
    row = {
        "name": str(entry.get("name", "")), "method": str(entry.get("method", "")),
        "count": count, "errors": errors, "error_rate": errors / count if count else None,
        "status_codes": counts_of(entry.get("status_codes")),
    }
    row.update({figure: number(entry.get(key)) if count else None for figure, key in REQUEST_FIGURES.items()})
    return row


def request_rows(requests) -> list[dict]:
    """Every request name of a stored breakdown, busiest first (ties by name; ``other`` last)."""
    rows = [request_row(entry) for entry in entries_of(requests)]
    return sorted(rows, key=lambda r: (is_other(r), -r["count"], r["name"], r["method"]))


# --- errors ------------------------------------------------------------------------------------

def error_rows(requests) -> list[dict]:
    """The errors of a stored breakdown by request name and cause, the most frequent first.

    Each row carries the samples of its cause the breakdown kept (the first
    few errors of each name, runners.requests.MAX_SAMPLES).
    """
    rows = []
    for entry in entries_of(requests):
        name, method = str(entry.get("name", "")), str(entry.get("method", ""))
        samples = [s for s in entry.get("samples") or [] if isinstance(s, Mapping)]
        for cause, count in counts_of(entry.get("causes")).items():
            if count:
                rows.append({"name": name, "method": method, "cause": cause, "count": count,
                             "samples": [sample_of(s) for s in samples if str(s.get("cause")) == cause]})
    return sorted(rows, key=lambda r: (-r["count"], r["name"], r["method"], r["cause"]))


# --- checks ------------------------------------------------------------------------------------

def check_rows(checks) -> list[dict]:
    """``[{name, passes, fails, rate}]``: the failing checks first (most fails first), then by name."""
    if not isinstance(checks, Mapping):
        return []
    rows = []
    for name, figures in checks.items():
        figures = figures if isinstance(figures, Mapping) else {}
        passes, fails = count_of(figures.get("passes")), count_of(figures.get("fails"))
        rows.append({"name": str(name), "passes": passes, "fails": fails,
                     "rate": passes / (passes + fails) if passes + fails else None})
    return sorted(rows, key=lambda r: (-r["fails"], r["name"]))


# --- histogram ---------------------------------------------------------------------------------

def decoded_histogram(encoded: str, *, owner: str = "") -> LatencyHistogram:
    """The stored histogram (an empty one when there is none or it cannot be decoded)."""
    return shared.decoded_histogram(encoded, owner=owner)


def histogram_buckets(hist: LatencyHistogram, buckets: int = HISTOGRAM_DEFAULT_BUCKETS, *,
                      min_ms: float | None = None, max_ms: float | None = None) -> dict:
    """``{"count": n, "buckets": [{"from_ms", "to_ms", "count"}]}``: perfmon.runs.breakdown.histogram_buckets."""
    return {"count": hist.count, "buckets": shared.histogram_buckets(hist, buckets, min_ms=min_ms, max_ms=max_ms)}


# --- comparison --------------------------------------------------------------------------------

def relative_change(value: float | None, base: float | None) -> float | None:
    """(value - base) / base; None when either is unknown or the base is 0."""
    if value is None or base is None or base == 0:
        return None
    return (value - base) / base


def _figure(metric: str, values: Sequence[float | None]) -> dict:
    base = values[0]
    return {"metric": metric, "values": list(values),
            "changes": [None, *(relative_change(value, base) for value in values[1:])]}


def comparison(runs: Sequence) -> dict:
    """Runs side by side: each summary figure and each request name's figures, and their relative
    change from the first run's (``changes[0]`` is always None).

    A request name missing from a run has None for its figures there. Names
    are ordered by the busiest in the first run, then those only later runs have.
    """
    summaries = [summary_metrics(run.metrics) for run in runs]
    metrics = [_figure(camel(key), [summary[key] for summary in summaries]) for key in SUMMARY_KEYS]
    tables = [{(row["name"], row["method"]): row for row in request_rows(run.requests)} for run in runs]
    names: dict[tuple[str, str], None] = {}
    for table in tables:
        names.update(dict.fromkeys(table))
    requests = []
    for key in names:
        rows = [table.get(key) for table in tables]
        requests.append({
            "name": key[0], "method": key[1],
            "metrics": [_figure(camel(figure), [row[figure] if row else None for row in rows])
                        for figure in COMPARED_REQUEST_FIGURES],
        })
    return {"metrics": metrics, "requests": requests}


def parse_ids(raw: str | None, *, minimum: int, maximum: int) -> list[str]:
    """The comma-separated ids of ``?ids=``; raises ValueError saying what is wrong."""
    ids = [part.strip() for part in (raw or "").split(",") if part.strip()]
    if not minimum <= len(ids) <= maximum:
        raise ValueError(f"Give {minimum} to {maximum} run ids separated by commas, got {len(ids)}.")
    if len({part.lower() for part in ids}) != len(ids):
        raise ValueError("Each run may be given once.")
    return ids


def whole_number(raw: str) -> int | None:
    """``raw`` as a non-negative whole number written in ASCII digits, else None."""
    value = ascii_integer(raw)
    return value if value is not None and not raw.startswith("-") else None


def part_index(params: Mapping) -> int | None:
    """The ``?part=`` index (None when absent); a 400 for one that is not below PERFMON_SPLIT_MAX_PARTS."""
    raw = params.get("part")
    if raw is None:
        return None
    index = whole_number(raw)
    if index is None or index >= settings.PERFMON_SPLIT_MAX_PARTS:
        raise ValidationError({"part": [f"The index of a part: 0 to {settings.PERFMON_SPLIT_MAX_PARTS - 1}."]})
    return index
