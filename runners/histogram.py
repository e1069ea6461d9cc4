"""A mergeable latency histogram (HdrHistogram) with a stable wire encoding.

Values are recorded in whole microseconds with 3 significant digits over
1 us .. 1 h, so any reported percentile is within 0.1 % (relative) plus
1 us of the exact sample value at that rank. Latencies below 1 us are
recorded as 1 us and above 1 h as 1 h (a saturated value, never dropped, so
counts stay exact).

Percentiles use the nearest-rank definition: the value at rank
ceil(q / 100 * n) of the sorted samples (rank 1 for q = 0), reported as the
highest value equivalent to that sample within the histogram's precision (it
never understates a latency). Merging adds the counts bucket by bucket, so
the merge of two histograms is exactly the histogram of the pooled samples.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections import Counter
from collections.abc import Iterable
from fractions import Fraction

from hdrh.histogram import HdrHistogram

from runners.errors import ParseError

LOWEST_US = 1
HIGHEST_US = 3_600_000_000  # one hour
SIGNIFICANT_DIGITS = 3


def nearest_rank(q: float, n: int) -> int:
    """Return the 1-based rank of percentile ``q`` (0..100) among ``n`` samples.

    Exact arithmetic, so 95 % of 100 samples is rank 95, not 96 by a float
    rounding error. Raises ValueError for q outside 0..100.
    """
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be within 0..100, got {q}")
    # str() gives the shortest decimal that round-trips, i.e. what the caller typed.
    rank = math.ceil(Fraction(str(q)) * n / 100)
    return max(1, min(n, rank))


def _to_us(latency_ms: float) -> int:
    us = round(latency_ms * 1000.0)
    if us < LOWEST_US:
        return LOWEST_US
    if us > HIGHEST_US:
        return HIGHEST_US
    return us


# The bucket index of a value, as HdrHistogram._counts_index_for computes it, with the
# layout constants read once: recording is the hot loop of every reader.
_LAYOUT = HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)
_MASK = _LAYOUT.sub_bucket_mask
_UNIT = _LAYOUT.unit_magnitude
_HALF_MAG = _LAYOUT.sub_bucket_half_count_magnitude
_HALF_COUNT = _LAYOUT.sub_bucket_half_count
_BUCKET_SHIFT = _UNIT + _HALF_MAG + 1
del _LAYOUT


def _release(hdr: HdrHistogram | None) -> None:
    encoder = getattr(hdr, "encoder", None)
    if encoder is not None:
        encoder.histogram = None


def index_of_ms(latency_ms: float) -> int:
    """The bucket a latency in ms is counted in (LatencyHistogram.bucket_of, as a plain function)."""
    us = round(latency_ms * 1000.0)
    if us < LOWEST_US:
        us = LOWEST_US
    elif us > HIGHEST_US:
        us = HIGHEST_US
    bucket = (us | _MASK).bit_length() - _BUCKET_SHIFT
    return ((bucket + 1) << _HALF_MAG) + ((us >> (bucket + _UNIT)) - _HALF_COUNT)


def _index_of(us: int) -> int:
    bucket = (us | _MASK).bit_length() - _BUCKET_SHIFT
    return ((bucket + 1) << _HALF_MAG) + ((us >> (bucket + _UNIT)) - _HALF_COUNT)


class LatencyHistogram:
    """Latency distribution in milliseconds backed by an HdrHistogram (us units)."""

    __slots__ = ("_h",)

    def __init__(self) -> None:
        self._h = HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)

    def __del__(self) -> None:
        # hdrh's histogram and its encoder point at each other; a reference cycle waits
        # for the cyclic GC, and readers that close an interval every few seconds would
        # pile up ~200 KB counts arrays. Breaking it frees them at once.
        _release(getattr(self, "_h", None))

    # -- recording -----------------------------------------------------------
    def record(self, latency_ms: float, count: int = 1) -> None:
        """Record ``count`` samples of ``latency_ms`` (clamped to 1 us .. 1 h)."""
        us = _to_us(latency_ms)
        self._bump(_index_of(us), us, count)

    @staticmethod
    def record_in(histograms: tuple[LatencyHistogram, ...], latency_ms: float) -> None:
        """Record one sample in several histograms, computing its bucket once."""
        us = _to_us(latency_ms)
        index = _index_of(us)
        for h in histograms:
            h._bump(index, us, 1)

    def _bump(self, index: int, us: int, count: int) -> None:
        # the same bookkeeping as HdrHistogram.record_value, minus recomputing the index
        h = self._h
        h.counts[index] += count
        h.total_count += count
        if us < h.min_value:
            h.min_value = us
        if us > h.max_value:
            h.max_value = us

    @staticmethod
    def bucket_of(latency_ms: float) -> int:
        """The bucket a latency is counted in: record a Counter of these, then ``from_buckets``.

        A few KB for any number of samples, where a histogram holds a ~200 KB
        array: for many small histograms (one per request name) built at the end.
        """
        return _index_of(_to_us(latency_ms))

    @classmethod
    def from_buckets(cls, counts: dict[int, int], min_ms: float, max_ms: float) -> LatencyHistogram:
        """The histogram of samples counted by ``bucket_of``, whose exact extremes were min_ms..max_ms."""
        out = cls()
        h = out._h
        for index, n in counts.items():
            h.counts[index] += n
            h.total_count += n
        if h.total_count:
            h.min_value, h.max_value = _to_us(min_ms), _to_us(max_ms)
        return out

    def record_indices(self, indices: Iterable[int], min_ms: float, max_ms: float) -> None:
        """Record one sample in each bucket of ``indices`` (``bucket_of`` values, repeats counted).

        ``min_ms``/``max_ms`` are the exact extremes of those samples. The same
        state as recording each sample, at the cost of one update per distinct
        bucket: readers collect bucket numbers and record them in bulk.
        """
        h = self._h
        counts = h.counts
        total = 0
        for index, n in Counter(indices).items():
            counts[index] += n
            total += n
        if total:
            h.total_count += total
            lo, hi = _to_us(min_ms), _to_us(max_ms)
            if lo < h.min_value:
                h.min_value = lo
            if hi > h.max_value:
                h.max_value = hi

    def merge(self, other: LatencyHistogram) -> LatencyHistogram:
        """Add ``other``'s samples into this histogram (exact); return self."""
        if other.count:
            self._h.add(other._h)
        return self

    @classmethod
    def merged(cls, histograms: Iterable[LatencyHistogram]) -> LatencyHistogram:
        """Return a new histogram holding the samples of all ``histograms``."""
        out = cls()
        for h in histograms:
            out.merge(h)
        return out

    # -- transport -------------------------------------------------------------
    def encode(self) -> str:
        """Return the base64 HdrHistogram compressed payload ("HISTF..." text)."""
        return self._h.encode().decode("ascii")

    @classmethod
    def decode(cls, encoded: str | bytes) -> LatencyHistogram:
        """Decode an :meth:`encode` string (or any HdrHistogram base64 payload).

        A payload from another HdrHistogram configuration is re-recorded into
        ours. Raises ParseError if the text is not a valid payload or holds
        values above 1 h.
        """
        if isinstance(encoded, str):
            try:
                encoded = encoded.encode("ascii")
            except UnicodeEncodeError as exc:
                raise ParseError("invalid histogram encoding: not ASCII base64") from exc
        if not encoded:
            raise ParseError("invalid histogram encoding: empty")
        try:
            other = HdrHistogram.decode(encoded)
        except Exception as exc:  # hdrh raises TypeError, zlib.error, its own cookie errors...
            raise ParseError(f"invalid histogram encoding: {exc.__class__.__name__}: {exc}") from exc
        out = cls()
        try:
            out._h.add(other)
        except Exception as exc:
            raise ParseError(f"histogram does not fit 1 us .. 1 h: {exc}") from exc
        finally:
            _release(other)
        return out

    # -- queries -----------------------------------------------------------------
    @property
    def count(self) -> int:
        """Number of recorded samples."""
        return self._h.get_total_count()

    @property
    def min_ms(self) -> float:
        """Smallest sample (lowest equivalent value), 0.0 when empty."""
        return self._h.get_min_value() / 1000.0 if self.count else 0.0

    @property
    def max_ms(self) -> float:
        """Largest sample (highest equivalent value), 0.0 when empty."""
        return self._h.get_max_value() / 1000.0 if self.count else 0.0

    @property
    def mean_ms(self) -> float:
        """Mean of the samples at histogram precision, 0.0 when empty."""
        return self._h.get_mean_value() / 1000.0 if self.count else 0.0

    def _cumulative(self) -> list[int]:
        # Running sums up to the highest recorded bucket, in C loops (iterating the ctypes
        # array element by element would take ~10 ms); bisect then finds ranks.
        h = self._h
        used = _index_of(h.max_value) + 1 if h.total_count else 0
        return list(itertools.accumulate(h.counts[:used]))

    def percentiles(self, qs: Iterable[float]) -> dict[float, float]:
        """Return {q: latency_ms} for each percentile ``q`` (nearest rank); 0.0 when empty."""
        qs = list(qs)
        n = self.count
        if n == 0:
            return dict.fromkeys(qs, 0.0)
        cum = self._cumulative()
        out = {}
        for q in qs:
            index = bisect.bisect_left(cum, nearest_rank(q, n))
            value = self._h.get_value_from_index(index)
            out[q] = self._h.get_highest_equivalent_value(value) / 1000.0
        return out

    def percentile(self, q: float) -> float:
        """Return the latency (ms) at percentile ``q`` (nearest rank); 0.0 when empty."""
        return self.percentiles([q])[q]

    def counts_at_or_below(self, latencies_ms: Iterable[float]) -> list[int]:
        """count_at_or_below for each latency, from one pass over the buckets (for histogram charts)."""
        latencies = list(latencies_ms)
        if self.count == 0:
            return [0] * len(latencies)
        cum = self._cumulative()
        return [cum[min(_index_of(_to_us(ms)), len(cum) - 1)] for ms in latencies]

    def count_at_or_below(self, latency_ms: float) -> int:
        """Number of samples <= latency_ms; samples in the same 0.1 % bucket count as below."""
        if self.count == 0:
            return 0
        cum = self._cumulative()
        return cum[min(_index_of(_to_us(latency_ms)), len(cum) - 1)]

    def __repr__(self) -> str:
        return f"<LatencyHistogram count={self.count}>"
