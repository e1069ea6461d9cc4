import json

import pytest

from runners.errors import ParseError
from runners.histogram import LatencyHistogram
from runners.records import RequestRecord
from runners.result import Result, ResultBuilder, SeriesPoint

T0 = 1_700_000_000.0  # a multiple of 5 and 1 s: the series grid starts here


def rec(start_offset: float, ms: float, status: int = 200, failed: bool = False) -> RequestRecord:
    return RequestRecord(T0 + start_offset, ms, status, failed)


def test_the_one_error_rule():
    assert not RequestRecord(T0, 1, 200).is_error
    assert not RequestRecord(T0, 1, 399).is_error
    assert RequestRecord(T0, 1, 400).is_error
    assert RequestRecord(T0, 1, 500).is_error
    assert RequestRecord(T0, 1, 0).is_error
    assert RequestRecord(T0, 1, 200, failed=True).is_error


def test_result_figures_by_hand():
    b = ResultBuilder()
    b.add(rec(0.0, 100))          # ends at 0.1
    b.add(rec(0.5, 300, 500))     # ends at 0.8, error
    b.add(rec(1.0, 1000))         # ends at 2.0
    b.add(rec(1.5, 2500, 0))      # ends at 4.0, no response
    r = b.result()
    assert (r.count, r.errors, r.error_rate) == (4, 2, 0.5)
    assert (r.min_ms, r.max_ms, r.avg_ms) == (100, 2500, 975)
    assert r.started_at == T0 and r.ended_at == T0 + 4.0
    assert r.duration_s == 4.0
    assert r.throughput_rps == 1.0
    # T = 500: 100 satisfied; 1000 tolerating; 300 and 2500 are errors
    assert r.apdex == (1 + 1 / 2) / 4
    assert r.p50_ms == pytest.approx(300, rel=0.001)
    assert r.p99_ms == 2500  # clamped to the exact max


def test_empty_result():
    r = ResultBuilder().result()
    assert (r.count, r.errors, r.error_rate, r.throughput_rps, r.duration_s) == (0, 0, 0, 0, 0)
    assert r.apdex is None and r.started_at is None and r.series == ()
    assert Result.from_dict(json.loads(json.dumps(r.to_dict()))) == r


def test_series_close_in_order_exactly_once_and_sum_to_totals():
    b = ResultBuilder(interval_s=1.0, grace_s=0.5)
    b.add(rec(0.1, 10))
    b.add(rec(0.2, 10, 500))
    assert b.take_completed_series() == []            # nothing past 1.5 s seen yet
    b.add(rec(1.2, 10))
    assert b.take_completed_series() == []            # watermark 1.21 < 1 + grace
    b.add(rec(3.6, 10))                               # watermark 3.61 closes [0,1), [1,2), [2,3)
    points = b.take_completed_series()
    assert [(p.seq, p.start, p.count, p.errors) for p in points] == [
        (0, T0, 2, 1), (1, T0 + 1, 1, 0), (2, T0 + 2, 0, 0)]
    # the run began at 0.1: its first interval covered 0.9 s, and its rate says so
    assert points[0].covered_s == pytest.approx(0.9, abs=1e-6)
    assert points[0].throughput_rps == pytest.approx(2 / 0.9, rel=1e-6)
    assert (points[1].covered_s, points[1].throughput_rps) == (1.0, 1.0)
    assert b.take_completed_series() == []            # each point handed out once
    b.add(rec(0.3, 10))                               # late: counts in the first open interval
    final = b.result()
    assert [(p.seq, p.count) for p in final.series] == [(0, 2), (1, 1), (2, 0), (3, 2)]
    assert final.series[:3] == tuple(points)
    assert sum(p.count for p in final.series) == final.count == 5
    # the last interval ends with the last request (3.61): 2 requests in 0.61 s
    assert final.series[3].covered_s == pytest.approx(0.61, abs=1e-6)
    assert final.series[3].throughput_rps == pytest.approx(2 / 0.61, rel=1e-5)


def test_the_clock_closes_pauses_but_not_an_interval_that_may_hold_the_runs_end():
    b = ResultBuilder(interval_s=5.0)
    assert b.take_completed_series(now=T0 + 100) == []  # no grid before the first record
    b.add(rec(0.0, 5))
    # [0,5) holds the only request so far: were it the run's last, its rate must stop at 0.005 s
    assert b.take_completed_series(now=T0 + 11.0) == []
    b.add(rec(16.0, 5))                                  # the run went on: [0,5) was covered whole
    points = b.take_completed_series(now=T0 + 22.0)
    assert [(p.seq, p.count, p.covered_s) for p in points] == [(0, 1, 5.0), (1, 0, 5.0), (2, 0, 5.0)]
    b.add(rec(26.0, 5))
    assert [(p.seq, p.count) for p in b.take_completed_series(now=T0 + 40.0)] == [(3, 1), (4, 0)]


def test_the_clock_closes_quiet_intervals_of_aggregates():
    b = ResultBuilder(interval_s=5.0)
    b.add_interval(SeriesPoint.build(0, T0, 5.0, 0, 0, None), None)   # a tool reporting a quiet interval
    assert b.take_completed_series(now=T0 + 4.0) == []
    assert [(p.seq, p.count) for p in b.take_completed_series(now=T0 + 6.5)] == [(0, 0)]


def test_an_edge_interval_covering_under_half_joins_its_neighbour():
    b = ResultBuilder(interval_s=1.0)
    for i in range(24):                      # 10 req/s from 0.93 s to 3.23 s
        b.add(rec(0.93 + i * 0.1, 0))
    streamed = b.take_completed_series()
    series = b.result().series
    # [0,1) held 0.07 s of the run and [3,4) 0.23 s: each joins its neighbour,
    # so no point shows the rate of a sliver (1 request in 7 ms is 143/s)
    assert [(p.seq, p.start - T0, p.interval_s, p.count) for p in series] == [(0, 0.0, 2.0, 11), (1, 2.0, 2.0, 13)]
    assert series[0].covered_s == pytest.approx(1.07, abs=1e-6)
    assert series[1].covered_s == pytest.approx(1.23, abs=1e-6)
    assert all(9 < p.throughput_rps < 11 for p in series), [p.throughput_rps for p in series]
    assert tuple(streamed) == series[:len(streamed)]  # what was streamed is never revised
    assert sum(p.count for p in series) == 24


def test_the_interval_the_run_began_in_counts_even_if_nothing_completed_in_it():
    b = ResultBuilder(interval_s=1.0)
    b.add(rec(0.7, 500))                     # the first request takes 0.5 s: completes in [1,2)
    for i in range(10):
        b.add(rec(1.25 + i * 0.1, 0))
    series = b.result().series
    assert sum(p.count for p in series) == 11
    assert sum(p.covered_s for p in series) == pytest.approx(b.result().duration_s, abs=1e-6)
    assert series[0].start == T0  # [0,1) held 0.3 s of the run: joined to [1,2)


def test_rates_divide_by_the_time_the_run_covered_at_both_ends():
    b = ResultBuilder(interval_s=1.0)
    for i in range(35):                      # 10 req/s from 0.35 s to 3.75 s
        b.add(rec(0.35 + i * 0.1, 0))
    series = b.result().series
    assert [p.count for p in series] == [7, 10, 10, 8]
    assert series[0].covered_s == pytest.approx(0.65, abs=1e-6)
    assert series[-1].covered_s == pytest.approx(0.75, abs=1e-6)
    # every interval shows the run's real rate (about 10/s), none the 6.5 and 7.5 of count / 1 s
    assert all(9.5 < p.throughput_rps < 11.5 for p in series), [p.throughput_rps for p in series]


def test_series_are_bucketed_by_completion_time():
    b = ResultBuilder(interval_s=1.0)
    b.add(rec(0.5, 800))   # started in [0,1), completed at 1.3
    b.add(rec(1.6, 10))
    r = b.result()
    # [0,1): the run began there, nothing completed; [1,2): both completions
    assert [(p.seq, p.start, p.count) for p in r.series] == [(0, T0, 0), (1, T0 + 1, 2)]


def test_apdex_for_another_t_uses_the_success_histogram():
    b = ResultBuilder(apdex_t_ms=500)
    for ms in (50, 150, 250, 700):
        b.add(rec(0, ms))
    b.add(rec(0, 10, 503))
    assert b.result().apdex == (3 + 1 / 2) / 5
    assert b.result(apdex_t_ms=100).apdex == (1 + 2 / 2) / 5   # 150, 250 tolerate; 700 frustrated
    assert b.result(apdex_t_ms=1000).apdex == 4 / 5


def test_interval_aggregates_without_requests():
    hist = LatencyHistogram()
    for ms in (10, 20, 30, 40):
        hist.record(ms)
    b = ResultBuilder(interval_s=5.0)
    point = SeriesPoint.build(0, T0, 5.0, 4, 1, hist)
    b.add_interval(point, hist, min_ms=10, max_ms=40, sum_ms=100)
    b.add_interval(SeriesPoint.build(0, T0 + 5, 5.0, 0, 0, None), None)
    r = b.result()
    assert (r.count, r.errors, r.min_ms, r.max_ms, r.avg_ms) == (4, 1, 10, 40, 25)
    assert r.duration_s == 5.0 and r.throughput_rps == 0.8
    assert r.apdex == 3 / 4      # lower bound: the error counted against a satisfied one
    assert [p.count for p in r.series] == [4, 0]
    with pytest.raises(ValueError):
        b.add_interval(SeriesPoint.build(0, T0, 5.0, 1, 2, None), None)


def test_result_round_trips_through_json():
    b = ResultBuilder(interval_s=1.0)
    for i in range(20):
        b.add(rec(i * 0.1, 5 + i, 500 if i % 7 == 0 else 200))
    r = b.result()
    back = Result.from_dict(json.loads(json.dumps(r.to_dict())))
    assert back == r
    assert set(r.to_dict()) >= {"count", "errors", "error_rate", "min_ms", "avg_ms", "p50_ms",
                                "p90_ms", "p95_ms", "p99_ms", "max_ms", "throughput_rps",
                                "duration_s", "apdex", "histogram", "series"}


@pytest.mark.parametrize("data", [None, [], {"count": 1}, {**ResultBuilder().result().to_dict(),
                                                            "count": "many"}])
def test_from_dict_rejects_bad_payloads_with_parse_error(data):
    with pytest.raises(ParseError):
        Result.from_dict(data)


def test_merge_refuses_different_apdex_t():
    a = ResultBuilder(apdex_t_ms=500).result()
    b = ResultBuilder(apdex_t_ms=200).result()
    with pytest.raises(ValueError, match="different T"):
        Result.merge(a, b)


def test_merge_lines_up_series_of_parallel_runs():
    a, b = ResultBuilder(interval_s=1.0), ResultBuilder(interval_s=1.0)
    a.add(rec(0.1, 10))
    a.add(rec(1.6, 10))
    b.add(rec(1.7, 20, 500))
    m = Result.merge(a.result(), b.result())
    assert [(p.seq, p.start, p.count, p.errors) for p in m.series] == [
        (0, T0, 1, 0), (1, T0 + 1, 2, 1)]
    assert m.started_at == T0 + 0.1
    # parallel parts cover the same time: the merged cover is the longer one, not the sum
    assert m.series[1].covered_s == pytest.approx(0.61, abs=1e-6)


def test_corrupt_timestamps_are_refused_instead_of_flooding_the_series():
    b = ResultBuilder(interval_s=1.0)
    b.add(rec(0, 10))
    with pytest.raises(ValueError, match="48 h"):
        b.add(rec(86400 * 365, 10))          # a year later: would be 31 million empty points
    with pytest.raises(ValueError):
        b.add(rec(-86400 * 3, 10))
    with pytest.raises(ValueError):
        b.add(rec(0, 1e12))                   # ends decades later
    assert b.count == 1 and len(b.result().series) == 1


def test_a_year_jump_in_a_stream_is_a_parse_error(tmp_path):
    from runners.stream import StreamReader, header_line, request_line

    out = tmp_path / "s.ndjson"
    out.write_text(header_line() + request_line(T0, 1, 200) + request_line(T0 + 3e7, 1, 200))
    with pytest.raises(ParseError, match="line 3"):
        StreamReader(out).finish()
