"""ResultBuilder: the streaming aggregator every reader feeds (see runners.result
for the definitions of every figure it produces)."""

from __future__ import annotations

import math

from runners import apdex as _apdex
from runners.histogram import LatencyHistogram, index_of_ms
from runners.records import RequestRecord
from runners.requests import DEFAULT_MAX_NAMES, RequestTable
from runners.result import MAX_SPAN_S, Result, SeriesPoint, _make_result

#: latencies waiting to be recorded in a histogram are recorded once this many are
_FLUSH_AT = 1 << 15


class _Bucket:
    """One interval's counters; its latencies wait as histogram bucket numbers, recorded in bulk."""

    __slots__ = ("_hist", "count", "errors", "hi_ms", "indices", "lo_ms", "vus")

    def __init__(self) -> None:
        self.count = 0
        self.errors = 0
        self._hist: LatencyHistogram | None = None
        self.indices: list[int] = []  # buckets (index_of_ms) of latencies not yet in _hist
        self.lo_ms = math.inf  # the extremes of those latencies
        self.hi_ms = -math.inf
        self.vus: int | None = None

    def record_pending(self) -> None:
        """Record the latencies waiting in ``indices`` into the interval's histogram."""
        if self._hist is None:
            self._hist = LatencyHistogram()
        if self.indices:
            self._hist.record_indices(self.indices, self.lo_ms, self.hi_ms)
            self.indices = []
            self.lo_ms, self.hi_ms = math.inf, -math.inf

    @property
    def hist(self) -> LatencyHistogram:
        """The interval's histogram, with every latency recorded so far."""
        self.record_pending()
        return self._hist

    @hist.setter
    def hist(self, value: LatencyHistogram) -> None:
        self._hist, self.indices = value, []
        self.lo_ms, self.hi_ms = math.inf, -math.inf


class _Piece:
    """One or more neighbouring intervals about to become a SeriesPoint."""

    __slots__ = ("bucket", "covered_s", "span_s", "start")

    def __init__(self, start: float, span_s: float, covered_s: float, bucket: _Bucket):
        self.start, self.span_s, self.covered_s, self.bucket = start, span_s, covered_s, bucket

    def joined(self, later: _Piece) -> _Piece:
        """This piece and the one after it as one (a new piece: neither is changed)."""
        bucket = _Bucket()
        bucket.count = self.bucket.count + later.bucket.count
        bucket.errors = self.bucket.errors + later.bucket.errors
        bucket.hist = LatencyHistogram.merged((self.bucket.hist, later.bucket.hist))
        known = [b.vus for b in (self.bucket, later.bucket) if b.vus is not None]
        bucket.vus = max(known) if known else None
        return _Piece(self.start, self.span_s + later.span_s, self.covered_s + later.covered_s, bucket)

    def ending_at(self, end: float) -> _Piece:
        """This piece with its cover cut at ``end`` (the run's last request's end)."""
        cut = max(0.0, self.start + self.span_s - end)
        return _Piece(self.start, self.span_s, max(0.0, self.covered_s - cut), self.bucket)

    def point(self, seq: int) -> SeriesPoint:
        return SeriesPoint.build(seq, self.start, self.span_s, self.bucket.count, self.bucket.errors,
                                 self.bucket.hist if self.bucket.count else None, covered_s=self.covered_s,
                                 vus=self.bucket.vus)


class ResultBuilder:
    """Streaming aggregator: feed records (or interval aggregates), read series and a Result.

    Memory is flat in the number of records: a few histograms, the open
    intervals and the series points handed out so far (one per interval).
    ``apdex_t_ms`` is the T whose Apdex is counted exactly; result() for
    another T uses the histogram of successful requests (0.1 % precision).
    ``grace_s`` is how long after its end an interval waits for records
    that tools flush late or slightly out of order. ``origin`` fixes the
    series grid (default: epoch multiples of interval_s).
    """

    def __init__(self, interval_s: float = 1.0, *, apdex_t_ms: float = 500.0,
                 grace_s: float = 1.0, origin: float | None = None, max_names: int = DEFAULT_MAX_NAMES):
        if not interval_s > 0:
            raise ValueError(f"interval_s must be > 0, got {interval_s!r}")
        self.interval_s = float(interval_s)
        self.grace_s = float(grace_s)
        self.apdex_t_ms = _apdex.check_t(apdex_t_ms)
        self._origin = origin
        self._all_hist = LatencyHistogram()  # every latency: read it through _hist
        self._ok = LatencyHistogram()  # successful requests only (Apdex for another T): read _ok_hist
        # Latencies of requests not yet in those two, as histogram buckets: recorded in bulk
        self._pending_all: list[int] = []
        self._pending_ok: list[int] = []
        self._pending_lo = self._pending_ok_lo = math.inf
        self._pending_hi = self._pending_ok_hi = -math.inf
        self._count = self._errors = self._satisfied = self._tolerating = 0
        self._sum_ms = 0.0
        self._min_ms = math.inf
        self._max_ms = -math.inf
        self._first_start = math.inf
        self._last_end = -math.inf
        self._covered_until = -math.inf  # the last request's end, or the end of a tool's last interval
        self._intervals_added = False  # aggregates only: Apdex becomes a lower bound
        self._buckets: dict[int, _Bucket] = {}
        self._next_seq = 0  # first interval not yet handed out
        self._emitted: list[SeriesPoint] = []
        self._pending: _Piece | None = None  # a first interval too short to show alone, held back
        self._watermark = -math.inf  # latest completion time seen
        self._requests = RequestTable(max_names)
        self._early_vus: int | None = None  # VUs reported before the first request
        self._vus_by_seq: dict[int, int] = {}  # VUs reported for intervals no request has opened yet
        self._checks: dict[str, dict[str, int]] = {}

    @property
    def count(self) -> int:
        return self._count

    def _bucket_for(self, when: float) -> _Bucket:
        if self._origin is None:
            self._origin = math.floor(when / self.interval_s) * self.interval_s
        # a tiny epsilon: a point starting exactly on a boundary must not fall one interval short
        seq = max(math.floor((when - self._origin) / self.interval_s + 1e-9), self._next_seq)
        bucket = self._buckets.get(seq)
        if bucket is None:
            bucket = self._buckets[seq] = _Bucket()
            early, self._early_vus = self._early_vus, None
            known = [v for v in (early, self._vus_by_seq.pop(seq, None)) if v is not None]
            if known:
                bucket.vus = max(known)
        return bucket

    def _check_times(self, start: float, end: float) -> None:
        reference = self._origin if self._origin is not None else start
        if not (abs(start - reference) <= MAX_SPAN_S and abs(end - reference) <= MAX_SPAN_S):
            raise ValueError(f"time {start!r}..{end!r} is more than {MAX_SPAN_S / 3600:g} h "
                             f"from the run's first request ({reference!r})")

    def _record_pending(self) -> None:
        """Record the latencies waiting in _pending_all and _pending_ok into their histograms."""
        if self._pending_all:
            self._all_hist.record_indices(self._pending_all, self._pending_lo, self._pending_hi)
            self._pending_all = []
            self._pending_lo, self._pending_hi = math.inf, -math.inf
        if self._pending_ok:
            self._ok.record_indices(self._pending_ok, self._pending_ok_lo, self._pending_ok_hi)
            self._pending_ok = []
            self._pending_ok_lo, self._pending_ok_hi = math.inf, -math.inf

    @property
    def _hist(self) -> LatencyHistogram:
        self._record_pending()
        return self._all_hist

    @property
    def _ok_hist(self) -> LatencyHistogram:
        self._record_pending()
        return self._ok

    def add(self, record: RequestRecord) -> None:
        """Count one request (O(1)).

        Raises ValueError (and counts nothing) if its start or end lies more
        than MAX_SPAN_S from the series origin: corrupt timestamps.
        """
        self.add_request(record.ts, record.latency_ms, record.status, record.failed,
                         record.name, record.method, record.error)

    def add_request(self, ts: float, latency_ms: float, status: int, failed: bool = False,
                    name: str = "", method: str = "", error: str = "") -> None:
        """Count one request given by its fields (RequestRecord's): what ``add`` does, without a record.

        The readers' hot path: a request costs a few list appends; its
        latency reaches the histograms in bulk.
        """
        latency = latency_ms if latency_ms > 0 else 0.0
        end = ts + latency / 1000.0
        reference = self._origin if self._origin is not None else ts
        if not (abs(ts - reference) <= MAX_SPAN_S and abs(end - reference) <= MAX_SPAN_S):
            self._check_times(ts, end)
        is_error = failed or status >= 400 or status == 0
        self._count += 1
        self._sum_ms += latency
        if latency < self._min_ms:
            self._min_ms = latency
        if latency > self._max_ms:
            self._max_ms = latency
        if ts < self._first_start:
            self._first_start = ts
            # The interval the run began in is covered even when no request completed in it.
            self._bucket_for(ts)
        if end > self._last_end:
            self._last_end = end
        if end > self._covered_until:
            self._covered_until = end
        if end > self._watermark:
            self._watermark = end
        bucket = self._bucket_for(end)
        bucket.count += 1
        index = index_of_ms(latency)
        self._requests.stats_for(name, method).add_fields(ts, end, latency, status, index, is_error, error)
        bucket.indices.append(index)
        if latency < bucket.lo_ms:
            bucket.lo_ms = latency
        if latency > bucket.hi_ms:
            bucket.hi_ms = latency
        pending = self._pending_all
        pending.append(index)
        if latency < self._pending_lo:
            self._pending_lo = latency
        if latency > self._pending_hi:
            self._pending_hi = latency
        if is_error:
            self._errors += 1
            bucket.errors += 1
        else:
            self._pending_ok.append(index)
            if latency < self._pending_ok_lo:
                self._pending_ok_lo = latency
            if latency > self._pending_ok_hi:
                self._pending_ok_hi = latency
            if latency <= self.apdex_t_ms:
                self._satisfied += 1
            elif latency <= 4 * self.apdex_t_ms:
                self._tolerating += 1
        if len(pending) >= _FLUSH_AT:  # recording what waits keeps memory flat
            self._record_pending()
        if len(bucket.indices) >= _FLUSH_AT:
            bucket.record_pending()

    def add_vus(self, when: float, vus: int) -> None:
        """The tool's count of active virtual users (threads, users) at epoch ``when``.

        Each interval keeps the most seen in it. A sample before the first
        request opens no interval of its own: it counts in the first one.
        """
        vus = int(vus)
        if not math.isfinite(when) or vus < 0:
            raise ValueError(f"bad VU sample: {vus!r} at {when!r}")
        if self._origin is None:
            self._early_vus = max(self._early_vus or 0, vus)
            return
        self._check_times(when, when)
        # The interval it falls in, if a request made it; else kept until one does (a sample
        # after the last request opens no interval of its own).
        seq = max(math.floor((when - self._origin) / self.interval_s + 1e-9), self._next_seq)
        bucket = self._buckets.get(seq)
        if bucket is not None:
            bucket.vus = max(bucket.vus or 0, vus)
        else:
            self._vus_by_seq[seq] = max(self._vus_by_seq.get(seq, 0), vus)

    def add_check(self, name: str, passed: bool, count: int = 1) -> None:
        """Count ``count`` evaluations of the check (or assertion) ``name`` that passed or failed."""
        figures = self._checks.setdefault(str(name), {"passes": 0, "fails": 0})
        figures["passes" if passed else "fails"] += count

    def add_interval(self, point: SeriesPoint, histogram: LatencyHistogram | None, *,
                     min_ms: float | None = None, max_ms: float | None = None,
                     sum_ms: float | None = None) -> None:
        """Count an interval aggregate from a tool that gives no per-request data.

        ``histogram`` holds the interval's latencies (None: counts only).
        Exact ``min_ms``/``max_ms``/``sum_ms`` are used when given, else the
        histogram's (0.1 %). Apdex then becomes a lower bound: the builder
        cannot tell which latencies were errors, so it counts errors against
        the fastest requests. Raises ValueError on negative counts, errors >
        count, or times more than MAX_SPAN_S from the series origin.
        """
        if point.count < 0 or not 0 <= point.errors <= point.count:
            raise ValueError(f"bad interval counters: count={point.count} errors={point.errors}")
        self._check_times(point.start, point.end)
        if self._origin is None and point.interval_s > self.interval_s:
            # A tool's own totals cannot be split into shorter intervals: its interval is the grid.
            self.interval_s = float(point.interval_s)
        self._covered_until = max(self._covered_until, point.end)  # a quiet interval is still covered
        if point.count == 0:
            self._bucket_for(point.start)
            self._watermark = max(self._watermark, point.end)
            return
        self._intervals_added = True
        h = histogram if histogram is not None else LatencyHistogram()
        self._count += point.count
        self._errors += point.errors
        self._sum_ms += sum_ms if sum_ms is not None else h.mean_ms * h.count
        if h.count or min_ms is not None:
            self._min_ms = min(self._min_ms, min_ms if min_ms is not None else h.min_ms)
            self._max_ms = max(self._max_ms, max_ms if max_ms is not None else h.max_ms)
        self._first_start = min(self._first_start, point.start)
        self._last_end = max(self._last_end, point.end)
        self._watermark = max(self._watermark, point.end)
        self._hist.merge(h)
        bucket = self._bucket_for(point.start)
        bucket.count += point.count
        bucket.errors += point.errors
        bucket.hist.merge(h)

    def _piece(self, seq: int, bucket: _Bucket | None, *, last: bool = False) -> _Piece:
        """Interval ``seq`` with the part the run covered; ``last``: it may hold the run's end."""
        start = self._origin + seq * self.interval_s
        end = start + self.interval_s
        # The run covered [first request's start, last request's end]: the edge
        # intervals are divided by the part of them it covered, not the whole.
        covered_from = max(start, self._first_start) if self._count else start
        covered_to = min(end, self._covered_until) if last and self._count else end
        return _Piece(start, self.interval_s, covered_to - covered_from, bucket or _Bucket())

    def _is_sliver(self, piece: _Piece) -> bool:
        return piece.covered_s < self.interval_s / 2

    def take_completed_series(self, now: float | None = None) -> list[SeriesPoint]:
        """Return the intervals closed since the last call, each exactly once, in order.

        An interval is closed once a request completing at or after its end
        + grace_s was seen: the run went on past it, so it covered all of it.
        ``now`` (epoch s) >= its end + grace_s closes only an interval without
        requests; one with requests may hold the run's last and waits for
        the next request or for result(). A run's edge interval covering less
        than half an interval joins its neighbour instead of showing the rate
        of a few milliseconds: the first is held back until the next closes;
        the last is joined in result() to the one before, which no request can
        have closed yet while grace_s >= interval_s / 2. Empty intervals
        between busy ones are returned as zero points.
        """
        if self._origin is None:
            return []
        by_requests = self._watermark - self.grace_s
        by_clock = (now if now is not None else -math.inf) - self.grace_s
        out = []
        while (end := self._origin + (self._next_seq + 1) * self.interval_s) <= max(by_requests, by_clock):
            if end > by_requests and self._next_seq in self._buckets and self._buckets[self._next_seq].count:
                break
            piece = self._piece(self._next_seq, self._buckets.pop(self._next_seq, None))
            self._next_seq += 1
            if self._pending is not None:
                piece, self._pending = self._pending.joined(piece), None  # the run began just before a boundary
            elif not self._emitted and self._is_sliver(piece):
                self._pending = piece
                continue
            point = piece.point(len(self._emitted))  # points are numbered in order, joined or not
            self._emitted.append(point)
            out.append(point)
        return out

    def _apdex(self, t_ms: float) -> float | None:
        if self._count == 0:
            return None
        if self._intervals_added:
            within_t = self._hist.count_at_or_below(t_ms)
            within_4t = self._hist.count_at_or_below(4 * t_ms)
            unplaced = max(0, self._errors - within_t)
            satisfied = max(0, within_t - self._errors)
            tolerating = max(0, within_4t - within_t - unplaced)
            return _apdex.score(satisfied, tolerating, self._count)
        if t_ms == self.apdex_t_ms:
            return _apdex.score(self._satisfied, self._tolerating, self._count)
        satisfied = self._ok_hist.count_at_or_below(t_ms)
        tolerating = self._ok_hist.count_at_or_below(4 * t_ms) - satisfied
        return _apdex.score(satisfied, tolerating, self._count)

    def result(self, apdex_t_ms: float | None = None) -> Result:
        """Return the Result so far (all series, the still-open ones included).

        Does not change the builder; more records may follow. ``apdex_t_ms``
        defaults to the builder's T. Raises ValueError for T <= 0.
        """
        t_ms = self.apdex_t_ms if apdex_t_ms is None else _apdex.check_t(apdex_t_ms)
        pieces = [self._pending] if self._pending is not None else []
        if self._buckets:
            last = max(self._buckets)
            pieces += [self._piece(seq, self._buckets.get(seq), last=seq == last)
                       for seq in range(self._next_seq, last + 1)]
        elif pieces:
            pieces = [self._pending.ending_at(self._covered_until) if self._count else self._pending]
        if len(pieces) > 1 and not self._emitted and self._is_sliver(pieces[0]):
            pieces[:2] = [pieces[0].joined(pieces[1])]
        if len(pieces) > 1 and self._is_sliver(pieces[-1]):
            pieces[-2:] = [pieces[-2].joined(pieces[-1])]  # the run ended just after a boundary
        series = [*self._emitted, *(piece.point(len(self._emitted) + i) for i, piece in enumerate(pieces))]
        return _make_result(
            count=self._count, errors=self._errors,
            min_ms=self._min_ms, max_ms=self._max_ms, sum_ms=self._sum_ms,
            started=self._first_start if self._count else None,
            ended=self._last_end if self._count else None,
            hist=self._hist, apdex=self._apdex(t_ms), apdex_t_ms=t_ms, series=series,
            requests=self._requests.entries(), checks={name: dict(v) for name, v in self._checks.items()},
        )
