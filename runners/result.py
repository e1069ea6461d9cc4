"""The common result model: Result, SeriesPoint, and the streaming ResultBuilder.

Definitions (the same for every tool; docs/tools.md repeats them):

* count / errors: requests seen / requests that are errors by the one rule
  of runners.records (tool marked failed, or status >= 400, or status 0).
* error_rate = errors / count (0..1; 0 when count == 0).
* min/avg/max: exact, from the tools' own latency values.
  p50/p90/p95/p99: nearest rank from the HDR histogram (0.1 % + 1 us).
* duration_s = ended_at - started_at, the measured span from the start of the
  first request to the end of the last one; throughput_rps = count /
  duration_s (0 when there were no requests).
* series: one SeriesPoint per interval (1 s on agents) of request COMPLETION
  time, on a grid aligned to epoch multiples of the interval (so series of
  parallel runs line up and merge); throughput_rps of a point is count /
  covered_s, the time of the interval the run covered (the first interval
  from the first request's start, the last up to the last request's end).
  A record arriving after its interval was handed out is counted in the
  first interval still open, so the series always sum to the totals.
* apdex: see runners.apdex; exact from counters for the builder's T.
* requests: the per-request breakdown, one entry per request name with its
  own counts, status codes, errors by cause and histogram (runners.requests);
  checks: ``{check name: {"passes", "fails"}}`` for tools that report checks.
"""

from __future__ import annotations

import functools
from dataclasses import MISSING, asdict, dataclass, field, fields, replace
from typing import Any

from runners.errors import ParseError
from runners.histogram import LatencyHistogram
from runners.requests import RequestEntry, merge_checks, merge_entries

PERCENTILES = (50, 90, 95, 99)
#: every timestamp of a run lies within this of its series origin; a larger jump is
#: corrupt output, and would otherwise make the builder emit that many empty intervals
MAX_SPAN_S = 48 * 3600.0


def _check_keys(cls, data: Any) -> dict:
    if not isinstance(data, dict):
        raise ParseError(f"{cls.__name__}: expected an object, got {type(data).__name__}")
    names = {f.name for f in fields(cls)}
    required = {f.name for f in fields(cls)
                if f.default is MISSING and f.default_factory is MISSING}
    missing = sorted(required - data.keys())
    if missing:
        raise ParseError(f"{cls.__name__}: missing keys {', '.join(missing)}")
    return {k: v for k, v in data.items() if k in names}



@dataclass(frozen=True, slots=True)
class SeriesPoint:
    """Figures of one interval [start, start + interval_s) of completion time.

    ``covered_s`` is the part of the interval the run covered: less than
    ``interval_s`` only for the run's first interval (from the first request's
    start) and its last (up to the last request's end). ``throughput_rps`` is
    ``count / covered_s``, so a run's edges show no fake dips. Omitted (points
    from before it existed), it is the whole interval.
    """

    seq: int
    start: float
    interval_s: float
    count: int
    errors: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    throughput_rps: float
    histogram: str = ""
    covered_s: float | None = None
    p90_ms: float | None = None
    vus: int | None = None  # the most virtual users (threads, users) active in the interval, where the tool says

    def __post_init__(self) -> None:
        if self.covered_s is None:
            object.__setattr__(self, "covered_s", self.interval_s)

    @property
    def end(self) -> float:
        return self.start + self.interval_s

    def to_dict(self) -> dict:
        """Return a JSON-safe dict (keys = field names)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> SeriesPoint:
        """Build from :meth:`to_dict` output; raise ParseError on missing keys or bad types."""
        kw = _check_keys(cls, data)
        try:
            return cls(
                seq=int(kw["seq"]), start=float(kw["start"]), interval_s=float(kw["interval_s"]),
                count=int(kw["count"]), errors=int(kw["errors"]), p50_ms=float(kw["p50_ms"]),
                p95_ms=float(kw["p95_ms"]), p99_ms=float(kw["p99_ms"]),
                throughput_rps=float(kw["throughput_rps"]), histogram=str(kw.get("histogram", "")),
                covered_s=None if kw.get("covered_s") is None else float(kw["covered_s"]),
                p90_ms=None if kw.get("p90_ms") is None else float(kw["p90_ms"]),
                vus=None if kw.get("vus") is None else int(kw["vus"]),
            )
        except (TypeError, ValueError) as exc:
            raise ParseError(f"SeriesPoint: bad value: {exc}") from exc

    @classmethod
    def build(cls, seq: int, start: float, interval_s: float, count: int, errors: int,
              histogram: LatencyHistogram | None, *, covered_s: float | None = None,
              vus: int | None = None) -> SeriesPoint:
        """Make a point from counters and the interval's histogram (None = no latencies).

        ``covered_s`` (default: the whole interval) is clamped to 0..interval_s;
        the rate is 0 when no time was covered.
        """
        covered = interval_s if covered_s is None else min(max(covered_s, 0.0), interval_s)
        if histogram is None or histogram.count == 0:
            pct, encoded = dict.fromkeys((50, 90, 95, 99), 0.0), _empty_histogram()
        else:
            pct, encoded = histogram.percentiles((50, 90, 95, 99)), histogram.encode()
        return cls(seq=seq, start=start, interval_s=interval_s, count=count, errors=errors,
                   p50_ms=pct[50], p95_ms=pct[95], p99_ms=pct[99],
                   throughput_rps=count / covered if covered > 0 else 0.0,
                   histogram=encoded, covered_s=covered, p90_ms=pct[90], vus=vus)


@functools.cache
def _empty_histogram() -> str:
    return LatencyHistogram().encode()


@dataclass(frozen=True, slots=True)
class Result:
    """Final figures of one run (see the module docstring for every definition).

    ``apdex`` is None when there were no requests. ``partial`` is True when a
    truncated last line of the output (tool killed mid-write) was ignored.
    """

    count: int
    errors: int
    error_rate: float
    min_ms: float
    avg_ms: float
    p50_ms: float
    p90_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    throughput_rps: float
    duration_s: float
    started_at: float | None
    ended_at: float | None
    apdex: float | None
    apdex_t_ms: float
    histogram: str
    series: tuple[SeriesPoint, ...] = ()
    partial: bool = False
    requests: tuple[RequestEntry, ...] = ()
    checks: dict[str, dict[str, int]] = field(default_factory=dict)

    def to_dict(self) -> dict:
        """Return a JSON-safe dict; ``series`` and ``requests`` are lists of their dicts."""
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("series", "requests")}
        data["series"] = [p.to_dict() for p in self.series]
        data["requests"] = [entry.to_dict() for entry in self.requests]
        return data

    @classmethod
    def from_dict(cls, data: Any) -> Result:
        """Build from :meth:`to_dict` output; raise ParseError on missing keys or bad types."""
        kw = _check_keys(cls, data)
        series = kw.pop("series", ())
        if not isinstance(series, (list, tuple)):
            raise ParseError("Result: series must be a list")
        requests = kw.pop("requests", None) or ()
        checks = kw.pop("checks", None) or {}
        if not isinstance(requests, (list, tuple)) or not isinstance(checks, dict):
            raise ParseError("Result: requests must be a list and checks an object")
        try:
            kw["checks"] = {str(name): {"passes": int(v["passes"]), "fails": int(v["fails"])}
                            for name, v in checks.items()}
        except (TypeError, ValueError, KeyError) as exc:
            raise ParseError(f"Result: bad checks: {exc!r}") from exc
        kw["requests"] = tuple(RequestEntry.from_dict(entry) for entry in requests)
        try:
            for name in ("count", "errors"):
                kw[name] = int(kw[name])
            for name in ("error_rate", "min_ms", "avg_ms", "p50_ms", "p90_ms", "p95_ms", "p99_ms",
                         "max_ms", "throughput_rps", "duration_s", "apdex_t_ms"):
                kw[name] = float(kw[name])
            for name in ("started_at", "ended_at", "apdex"):
                kw[name] = None if kw[name] is None else float(kw[name])
            kw["histogram"] = str(kw["histogram"])
            kw["partial"] = bool(kw.get("partial", False))
        except (TypeError, ValueError) as exc:
            raise ParseError(f"Result: bad value: {exc}") from exc
        return cls(series=tuple(SeriesPoint.from_dict(p) for p in series), **kw)

    def latency_histogram(self) -> LatencyHistogram:
        """Decode ``histogram`` (an empty histogram if there is none)."""
        return LatencyHistogram.decode(self.histogram) if self.histogram else LatencyHistogram()

    @staticmethod
    def merge(*results: Result) -> Result:
        """Combine results of runs measured together (e.g. several agents).

        Counts, errors, min, max, avg and Apdex combine exactly; percentiles
        come from the merged histogram, so they equal the percentiles of the
        pooled samples at histogram precision. Series points with the same
        start and interval are merged. Raises ValueError with no results or
        with different Apdex T.
        """
        if not results:
            raise ValueError("Result.merge needs at least one result")
        t_values = {r.apdex_t_ms for r in results}
        if len(t_values) != 1:
            raise ValueError(f"cannot merge Apdex computed for different T: {sorted(t_values)}")
        hist = LatencyHistogram.merged(r.latency_histogram() for r in results)
        used = [r for r in results if r.count]
        count = sum(r.count for r in results)
        errors = sum(r.errors for r in results)
        started = min((r.started_at for r in used if r.started_at is not None), default=None)
        ended = max((r.ended_at for r in used if r.ended_at is not None), default=None)
        apdex_sum = sum(r.apdex * r.count for r in used if r.apdex is not None)
        return _make_result(
            count=count, errors=errors,
            min_ms=min((r.min_ms for r in used), default=0.0),
            max_ms=max((r.max_ms for r in used), default=0.0),
            sum_ms=sum(r.avg_ms * r.count for r in used),
            started=started, ended=ended, hist=hist,
            apdex=apdex_sum / count if count else None, apdex_t_ms=t_values.pop(),
            series=_merge_series([p for r in results for p in r.series]),
            partial=any(r.partial for r in results),
            requests=merge_entries(*(r.requests for r in results)),
            checks=merge_checks(*(r.checks for r in results)),
        )


def _make_result(*, count, errors, min_ms, max_ms, sum_ms, started, ended, hist, apdex,
                 apdex_t_ms, series, partial=False, requests=(), checks=None) -> Result:
    pct = hist.percentiles(PERCENTILES)
    if count and min_ms <= max_ms:
        # the histogram reports a bucket's highest value; never beyond the exact extremes
        pct = {q: min(max(v, min_ms), max_ms) for q, v in pct.items()}
    duration = (ended - started) if count and started is not None and ended is not None else 0.0
    duration = max(duration, 0.0)
    return Result(
        count=count, errors=errors, error_rate=errors / count if count else 0.0,
        min_ms=min_ms if count else 0.0, avg_ms=sum_ms / count if count else 0.0,
        p50_ms=pct[50], p90_ms=pct[90], p95_ms=pct[95], p99_ms=pct[99],
        max_ms=max_ms if count else 0.0,
        throughput_rps=count / duration if duration > 0 else 0.0, duration_s=duration,
        started_at=started if count else None, ended_at=ended if count else None,
        apdex=apdex, apdex_t_ms=apdex_t_ms, histogram=hist.encode(), series=tuple(series),
        partial=partial, requests=tuple(requests), checks=dict(checks or {}),
    )


def _merge_series(points: list[SeriesPoint]) -> list[SeriesPoint]:
    groups: dict[tuple[float, float], list[SeriesPoint]] = {}
    for p in points:
        groups.setdefault((round(p.start, 6), p.interval_s), []).append(p)
    keys = sorted(groups)
    same_interval = len({k[1] for k in keys}) <= 1
    first = keys[0][0] if keys else 0.0
    out = []
    for i, key in enumerate(keys):
        group = groups[key]
        if len(group) == 1 and same_interval:
            out.append(replace(group[0], seq=round((key[0] - first) / key[1])))
            continue
        hist = LatencyHistogram.merged(
            LatencyHistogram.decode(p.histogram) for p in group if p.histogram)
        seq = round((key[0] - first) / key[1]) if same_interval else i
        # The runs went on side by side: together they covered the longest of their covers,
        # and their virtual users were active at once.
        vus = [p.vus for p in group if p.vus is not None]
        out.append(SeriesPoint.build(seq, group[0].start, key[1], sum(p.count for p in group),
                                     sum(p.errors for p in group), hist,
                                     covered_s=max(p.covered_s for p in group), vus=sum(vus) if vus else None))
    return out


def __getattr__(name: str):
    # ResultBuilder lives in runners.builder (which imports this module); it stays
    # importable from here, where the result model is documented.
    if name == "ResultBuilder":
        from runners.builder import ResultBuilder

        return ResultBuilder
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
