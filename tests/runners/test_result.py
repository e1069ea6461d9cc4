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
    assert points[0].throughput_rps == 2.0
    assert b.take_completed_series() == []            # each point handed out once
    b.add(rec(0.3, 10))                               # late: counts in the first open interval
    final = b.result()
    assert [(p.seq, p.count) for p in final.series] == [(0, 2), (1, 1), (2, 0), (3, 2)]
    assert final.series[:3] == tuple(points)
    assert sum(p.count for p in final.series) == final.count == 5


def test_series_close_by_the_clock_when_the_tool_is_quiet():
    b = ResultBuilder(interval_s=5.0)
    assert b.take_completed_series(now=T0 + 100) == []  # no grid before the first record
    b.add(rec(0.0, 5))
    assert b.take_completed_series(now=T0 + 5.5) == []
    points = b.take_completed_series(now=T0 + 11.0)
    assert [(p.seq, p.count) for p in points] == [(0, 1), (1, 0)]


def test_series_are_bucketed_by_completion_time():
    b = ResultBuilder(interval_s=1.0)
    b.add(rec(0.5, 800))   # started in [0,1), completed at 1.3
    r = b.result()
    assert [(p.seq, p.start, p.count) for p in r.series] == [(0, T0 + 1, 1)]


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
    a.add(rec(1.1, 10))
    b.add(rec(1.2, 20, 500))
    m = Result.merge(a.result(), b.result())
    assert [(p.seq, p.start, p.count, p.errors) for p in m.series] == [
        (0, T0, 1, 0), (1, T0 + 1, 2, 1)]
    assert m.started_at == T0 + 0.1


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
