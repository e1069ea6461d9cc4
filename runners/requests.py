"""The per-request breakdown of a result: one entry per request name, exact and mergeable.

Every reader names each request (runners.records.RequestRecord.name: k6's
``name`` tag, Locust's name, JMeter's sample label, Gatling's request name,
what a custom tool's lines carry); ``RequestTable`` counts, for each name,
the requests, the errors (by the one rule of runners.records), the HTTP
status codes, the errors by cause (the tool's error message or code, else
``HTTP <status>``, with the first few occurrences kept as samples) and the
latencies in the name's own HDR histogram, so its percentiles are exact
within the histogram's precision and the entries of several parts merge
exactly, as the run's totals do.

Cardinality is bounded: a script that puts ids in URLs would otherwise make
one entry per id. The first ``max_names`` names seen get their own entry;
every later name is counted under ``other`` (OTHER), so the counts still add
up to the run's. Causes are bounded per name the same way (MAX_CAUSES, then
OTHER_CAUSE), and samples to MAX_SAMPLES per name.

In memory a name keeps its latencies as a sparse map of histogram buckets
(a few KB), not a dense HdrHistogram (about 200 KB): a few hundred names
stay cheap; the dense histogram is built once, for the entry.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from runners.errors import ParseError
from runners.histogram import LatencyHistogram
from runners.records import RequestRecord

DEFAULT_MAX_NAMES = 300
OTHER = "other"
MAX_CAUSES = 20
OTHER_CAUSE = "other causes"
MAX_SAMPLES = 5
MAX_MESSAGE_CHARS = 500
PERCENTILES = (50, 90, 95, 99)


def cause_of(record: RequestRecord) -> str:
    """Why a failed request failed: the tool's message or code, else ``HTTP <status>`` (0: no response)."""
    return _cause(record.error, record.status)


def _cause(error: str, status: int) -> str:
    if error:
        return error[:MAX_MESSAGE_CHARS]
    if status == 0:
        return "no response"
    return f"HTTP {status}"


@dataclass(frozen=True, slots=True)
class RequestEntry:
    """The figures of one request name (or of OTHER, every name past the cap)."""

    name: str
    method: str
    count: int
    errors: int
    status_codes: dict[str, int]
    causes: dict[str, int]
    samples: tuple[dict, ...]
    min_ms: float
    avg_ms: float
    max_ms: float
    p50_ms: float
    p90_ms: float
    p95_ms: float
    p99_ms: float
    throughput_rps: float
    started_at: float | None
    ended_at: float | None
    histogram: str

    def to_dict(self) -> dict:
        data = {name: getattr(self, name) for name in self.__dataclass_fields__}
        data["samples"] = list(self.samples)
        return data

    @classmethod
    def from_dict(cls, data: Any) -> RequestEntry:
        """Build from :meth:`to_dict` output; raise ParseError on missing keys or bad types."""
        if not isinstance(data, dict):
            raise ParseError(f"RequestEntry: expected an object, got {type(data).__name__}")
        missing = sorted(set(cls.__dataclass_fields__) - data.keys())
        if missing:
            raise ParseError(f"RequestEntry: missing keys {', '.join(missing)}")
        try:
            return cls(
                name=str(data["name"]), method=str(data["method"]), count=int(data["count"]),
                errors=int(data["errors"]),
                status_codes={str(k): int(v) for k, v in dict(data["status_codes"]).items()},
                causes={str(k): int(v) for k, v in dict(data["causes"]).items()},
                samples=tuple(dict(s) for s in data["samples"]),
                **{k: float(data[k]) for k in ("min_ms", "avg_ms", "max_ms", "p50_ms", "p90_ms", "p95_ms",
                                               "p99_ms", "throughput_rps")},
                started_at=None if data["started_at"] is None else float(data["started_at"]),
                ended_at=None if data["ended_at"] is None else float(data["ended_at"]),
                histogram=str(data["histogram"]),
            )
        except (TypeError, ValueError) as exc:
            raise ParseError(f"RequestEntry: bad value: {exc}") from exc

    def latency_histogram(self) -> LatencyHistogram:
        return LatencyHistogram.decode(self.histogram) if self.histogram else LatencyHistogram()


class _Stats:
    """The running figures of one name."""

    __slots__ = ("buckets", "causes", "count", "errors", "first", "last", "max_ms", "method", "min_ms",
                 "pending", "samples", "statuses", "sum_ms")

    def __init__(self, method: str) -> None:
        self.method = method
        self.count = self.errors = 0
        self.sum_ms = 0.0
        self.min_ms, self.max_ms = math.inf, -math.inf
        self.first, self.last = math.inf, -math.inf
        self.statuses: dict[int, int] = {}
        self.causes: Counter[str] = Counter()
        self.samples: list[dict] = []
        self.buckets: Counter[int] = Counter()  # histogram bucket -> count (LatencyHistogram.bucket_of)
        self.pending: list[int] = []  # buckets not yet counted into ``buckets`` (counted in bulk)

    def add(self, record: RequestRecord, latency: float) -> None:
        self.add_fields(record.ts, record.ts + latency / 1000.0, latency, record.status,
                        LatencyHistogram.bucket_of(latency), record.is_error, record.error)

    def add_fields(self, ts: float, end: float, latency: float, status: int, bucket: int,
                   error: bool, message: str) -> None:
        """Count one request: started at ``ts``, ended at ``end``, in histogram bucket ``bucket``."""
        self.count += 1
        self.sum_ms += latency
        if latency < self.min_ms:
            self.min_ms = latency
        if latency > self.max_ms:
            self.max_ms = latency
        if ts < self.first:
            self.first = ts
        if end > self.last:
            self.last = end
        statuses = self.statuses
        statuses[status] = statuses.get(status, 0) + 1
        pending = self.pending
        pending.append(bucket)
        if len(pending) >= 4096:
            self.buckets.update(pending)
            pending.clear()
        if error:
            self.errors += 1
            cause = _cause(message, status)
            if cause not in self.causes and len(self.causes) >= MAX_CAUSES:
                cause = OTHER_CAUSE
            self.causes[cause] += 1
            if len(self.samples) < MAX_SAMPLES:
                self.samples.append({"ts": ts, "status": status, "cause": cause,
                                     "message": (message or "")[:MAX_MESSAGE_CHARS]})

    def entry(self, name: str) -> RequestEntry:
        buckets = self.buckets + Counter(self.pending) if self.pending else self.buckets
        hist = LatencyHistogram.from_buckets(buckets, self.min_ms, self.max_ms)
        return _entry(name, self.method, self.count, self.errors, self.statuses, self.causes, self.samples,
                      self.min_ms, self.sum_ms, self.max_ms, self.first, self.last, hist)


def _entry(name, method, count, errors, statuses, causes, samples, min_ms, sum_ms, max_ms, first, last,
           hist: LatencyHistogram) -> RequestEntry:
    pct = hist.percentiles(PERCENTILES) if count else dict.fromkeys(PERCENTILES, 0.0)
    if count:  # the histogram reports a bucket's highest value; never beyond the exact extremes
        pct = {q: min(max(v, min_ms), max_ms) for q, v in pct.items()}
    duration = last - first if count else 0.0
    return RequestEntry(
        name=name, method=method, count=count, errors=errors,
        status_codes={str(status): n for status, n in sorted(statuses.items())},
        causes=dict(Counter(causes).most_common()), samples=tuple(samples),
        min_ms=min_ms if count else 0.0, avg_ms=sum_ms / count if count else 0.0, max_ms=max_ms if count else 0.0,
        p50_ms=pct[50], p90_ms=pct[90], p95_ms=pct[95], p99_ms=pct[99],
        throughput_rps=count / duration if duration > 0 else 0.0,
        started_at=first if count else None, ended_at=last if count else None,
        histogram=hist.encode() if count else "",
    )


@dataclass
class RequestTable:
    """Counts every request under its name (the first ``max_names`` names), the rest under OTHER."""

    max_names: int = DEFAULT_MAX_NAMES
    _stats: dict[tuple[str, str], _Stats] = field(default_factory=dict)

    def add(self, record: RequestRecord, latency_ms: float | None = None) -> None:
        latency = record.latency_ms if latency_ms is None else latency_ms
        self.stats_for(record.name, record.method).add(record, latency)

    def stats_for(self, name: str, method: str) -> _Stats:
        """The running figures that count a request of ``name`` and ``method`` (OTHER past the cap)."""
        key = (name or "", method or "")
        stats = self._stats.get(key)
        if stats is None:
            if len(self._stats) >= self.max_names:
                key = (OTHER, "")
                stats = self._stats.get(key)
            if stats is None:
                stats = self._stats[key] = _Stats(key[1])
        return stats

    def entries(self) -> tuple[RequestEntry, ...]:
        """One entry per name, busiest first (OTHER last)."""
        out = [stats.entry(name) for (name, _), stats in self._stats.items()]
        return _ordered(out)


def _ordered(entries: list[RequestEntry]) -> tuple[RequestEntry, ...]:
    return tuple(sorted(entries, key=lambda e: (e.name == OTHER and e.method == "", -e.count, e.name, e.method)))


def merge_entries(*tables: tuple[RequestEntry, ...], max_names: int = DEFAULT_MAX_NAMES) -> tuple[RequestEntry, ...]:
    """The entries of several results measured together (the parts of a split run), merged by name.

    Counts, errors, status codes and causes add, min/max are the extremes, the
    histograms merge (exact percentiles), throughput is over the common span.
    Beyond ``max_names`` names the quietest are folded into OTHER.
    """
    groups: dict[tuple[str, str], list[RequestEntry]] = {}
    for table in tables:
        for entry in table:
            groups.setdefault((entry.name, entry.method), []).append(entry)
    keys = sorted(groups, key=lambda k: -sum(e.count for e in groups[k]))
    kept = [k for k in keys if k != (OTHER, "")][:max_names]
    folded: dict[tuple[str, str], list[RequestEntry]] = {k: groups[k] for k in kept}
    rest = [e for k in keys if k not in folded for e in groups[k]]
    if rest:
        folded[(OTHER, "")] = rest
    return _ordered([_combined(name, method, group) for (name, method), group in folded.items()])


def _combined(name: str, method: str, group: list[RequestEntry]) -> RequestEntry:
    if len(group) == 1 and (group[0].name, group[0].method) == (name, method):
        return group[0]
    used = [e for e in group if e.count]
    statuses: Counter[int] = Counter()
    causes: Counter[str] = Counter()
    for entry in group:
        statuses.update({int(k): v for k, v in entry.status_codes.items()})
        causes.update(entry.causes)
    samples = sorted((s for e in group for s in e.samples), key=lambda s: s.get("ts") or 0)[:MAX_SAMPLES]
    hist = LatencyHistogram.merged(e.latency_histogram() for e in used)
    return _entry(
        name, method, sum(e.count for e in group), sum(e.errors for e in group), statuses, causes, samples,
        min((e.min_ms for e in used), default=0.0), sum(e.avg_ms * e.count for e in used),
        max((e.max_ms for e in used), default=0.0),
        min((e.started_at for e in used if e.started_at is not None), default=0.0),
        max((e.ended_at for e in used if e.ended_at is not None), default=0.0), hist,
    )


def entry_of(entries: tuple[RequestEntry, ...], name: str) -> RequestEntry | None:
    """The figures of every request called ``name`` (whatever its methods), or None when there were none."""
    group = [entry for entry in entries if entry.name == name]
    if not group:
        return None
    methods = {entry.method for entry in group}
    return _combined(name, methods.pop() if len(methods) == 1 else "", group)


def merge_checks(*checks: dict) -> dict:
    """``{check name: {"passes": n, "fails": m}}`` of several results, added up."""
    out: dict[str, dict[str, int]] = {}
    for table in checks:
        for name, figures in table.items():
            total = out.setdefault(name, {"passes": 0, "fails": 0})
            total["passes"] += int(figures.get("passes", 0))
            total["fails"] += int(figures.get("fails", 0))
    return out
