import random

import pytest

from runners.errors import ParseError
from runners.histogram import LatencyHistogram, nearest_rank
from runners.records import RequestRecord
from runners.result import Result, ResultBuilder
from tests.runners.exact import assert_within_hdr, exact_percentile

QS = (0, 1, 25, 50, 75, 90, 95, 99, 99.9, 100)


def _samples(seed: int, n: int) -> list[float]:
    rng = random.Random(seed)
    # a long-tailed mix: microseconds to seconds, like real latencies
    return [rng.choice((rng.uniform(0.05, 2), rng.expovariate(1 / 30), rng.uniform(200, 4000)))
            for _ in range(n)]


def test_nearest_rank_is_exact_arithmetic():
    assert nearest_rank(95, 100) == 95
    assert nearest_rank(99.9, 1000) == 999
    assert nearest_rank(50, 3) == 2
    assert nearest_rank(0, 10) == 1
    assert nearest_rank(100, 10) == 10
    with pytest.raises(ValueError):
        nearest_rank(101, 10)


def test_percentiles_within_precision_of_exact_sample():
    samples = _samples(1, 20_000)
    h = LatencyHistogram()
    for s in samples:
        h.record(s)
    assert h.count == len(samples)
    for q in QS:
        exact = exact_percentile(samples, q) if q else min(samples)
        assert_within_hdr(h.percentile(q), exact, f"p{q}")


def test_encode_decode_round_trip_keeps_every_bucket():
    h = LatencyHistogram()
    for s in _samples(2, 5_000):
        h.record(s)
    text = h.encode()
    assert isinstance(text, str) and text.startswith("HISTF")
    back = LatencyHistogram.decode(text)
    assert back.count == h.count
    assert back.percentiles(QS) == h.percentiles(QS)


def test_merging_two_runs_equals_the_pooled_samples():
    run_a, run_b = _samples(3, 7_000), _samples(4, 3_000)
    pooled = run_a + run_b

    def result_of(samples, seed):
        rng = random.Random(seed)
        b = ResultBuilder()
        for i, ms in enumerate(samples):
            b.add(RequestRecord(1_700_000_000 + i * 0.01, ms, rng.choice((200, 200, 500))))
        return b.result()

    a, b = result_of(run_a, 5), result_of(run_b, 6)
    # through the wire format, as agents send them
    merged = Result.merge(Result.from_dict(a.to_dict()), Result.from_dict(b.to_dict()))
    assert merged.count == len(pooled)
    assert merged.errors == a.errors + b.errors
    assert merged.min_ms == min(pooled)
    assert merged.max_ms == max(pooled)
    assert merged.avg_ms == pytest.approx(sum(pooled) / len(pooled), rel=1e-12)
    for q in (50, 90, 95, 99):
        assert_within_hdr(getattr(merged, f"p{q}_ms"), exact_percentile(pooled, q), f"p{q}")
    # bucket for bucket the same as one histogram of the pooled samples
    direct = LatencyHistogram()
    for ms in pooled:
        direct.record(ms)
    assert merged.latency_histogram().percentiles(QS) == direct.percentiles(QS)
    merged_hist = LatencyHistogram.decode(a.histogram).merge(LatencyHistogram.decode(b.histogram))
    assert merged_hist.count == len(pooled)
    assert merged_hist.percentiles(QS) == direct.percentiles(QS)
    assert merged.apdex == pytest.approx((a.apdex * a.count + b.apdex * b.count) / len(pooled))


def test_out_of_range_values_are_clamped_not_dropped():
    h = LatencyHistogram()
    h.record(0.0)
    h.record(-5)
    h.record(10 * 3600 * 1000)  # ten hours
    assert h.count == 3
    assert h.percentile(0) == 0.001
    assert h.percentile(100) == pytest.approx(3600 * 1000, rel=0.001)


@pytest.mark.parametrize("garbage", ["", "not base64!", "SElTVEZBQUFB", "HISTFAAAAC54nJNpmSzM", "ü"])
def test_decoding_garbage_is_a_parse_error(garbage):
    with pytest.raises(ParseError, match="histogram"):
        LatencyHistogram.decode(garbage)


def test_empty_histogram_reports_zeros():
    h = LatencyHistogram()
    assert h.percentiles((50, 99)) == {50: 0.0, 99: 0.0}
    assert LatencyHistogram.decode(h.encode()).count == 0


def test_fast_bucket_index_matches_hdrhistogram():
    from hdrh.histogram import HdrHistogram

    from runners.histogram import HIGHEST_US, LOWEST_US, SIGNIFICANT_DIGITS, _index_of

    reference = HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)
    rng = random.Random(7)
    values = [1, 2, 1023, 1024, 2047, 2048, 2049, 4095, 4096, 10**6, HIGHEST_US]
    values += [int(10 ** rng.uniform(0, 9.55)) for _ in range(20_000)]
    for v in values:
        assert _index_of(v) == reference._counts_index_for(v), v


def test_counts_at_or_below_many_edges_in_one_pass_match_one_at_a_time():
    from runners.histogram import LatencyHistogram

    hist = LatencyHistogram()
    for i in range(1, 2000):
        hist.record(i * 0.37)
    edges = [0.5, 1.0, 10.0, 100.0, 500.0, 739.6, 5000.0]
    assert hist.counts_at_or_below(edges) == [hist.count_at_or_below(edge) for edge in edges]
    assert LatencyHistogram().counts_at_or_below(edges) == [0] * len(edges)
