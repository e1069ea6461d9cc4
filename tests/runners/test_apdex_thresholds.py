import pytest

from runners import apdex
from runners.records import RequestRecord
from runners.result import ResultBuilder
from runners.thresholds import Breach, evaluate, latency_percentile


def test_apdex_classification_at_the_boundaries():
    t = 200
    assert apdex.classify(200, False, t) == apdex.SATISFIED
    assert apdex.classify(200.001, False, t) == apdex.TOLERATING
    assert apdex.classify(800, False, t) == apdex.TOLERATING
    assert apdex.classify(800.001, False, t) == apdex.FRUSTRATED
    assert apdex.classify(1, True, t) == apdex.FRUSTRATED


def test_apdex_score_by_hand():
    # 60 satisfied, 30 tolerating, 10 frustrated: (60 + 15) / 100
    assert apdex.score(60, 30, 100) == 0.75
    assert apdex.score(0, 0, 0) is None
    with pytest.raises(ValueError):
        apdex.score(5, 6, 10)


def _result(latencies_and_status, apdex_t_ms=500.0):
    b = ResultBuilder(apdex_t_ms=apdex_t_ms)
    for i, (ms, status) in enumerate(latencies_and_status):
        b.add(RequestRecord(1_700_000_000 + i, ms, status))
    return b.result()


def test_builder_apdex_exact_from_counters():
    # T=100: 100 satisfied, 101 and 400 tolerating, 401 frustrated, the 5 ms 500 frustrated
    r = _result([(100, 200), (101, 200), (400, 200), (401, 200), (5, 500)], apdex_t_ms=100)
    assert r.apdex == (1 + 2 / 2) / 5 == 0.4


# ten requests: 10, 20, ..., 100 ms; two of them 500s
TEN = [(10.0 * i, 500 if i in (3, 7) else 200) for i in range(1, 11)]


def test_no_thresholds_no_breaches():
    assert evaluate(_result(TEN), {}) == []
    assert evaluate(_result(TEN), None) == []
    assert evaluate(_result(TEN), {"latencyMs": None, "errorRatePercent": None}) == []


def test_latency_against_p95_by_default():
    r = _result(TEN)
    assert r.p95_ms == 100.0  # rank ceil(9.5) = 10
    assert evaluate(r, {"latencyMs": 100}) == []
    assert evaluate(r, {"latencyMs": 99}) == [Breach("latencyMs", 99.0, 100.0)]


def test_latency_against_the_chosen_percentile():
    r = _result(TEN)
    assert r.p50_ms == pytest.approx(50.0, rel=0.001)  # rank 5
    [breach] = evaluate(r, {"latencyMs": 45, "latencyPercentile": 50})
    assert breach.metric == "latencyMs" and breach.actual == r.p50_ms
    assert latency_percentile({"latencyPercentile": 90}) == 90
    assert latency_percentile({"latencyPercentile": 97}) == 95      # unsupported -> p95
    assert latency_percentile({"latencyPercentile": "99"}) == 99


def test_error_rate_percent():
    r = _result(TEN)
    assert r.error_rate == 0.2
    assert evaluate(r, {"errorRatePercent": 20}) == []
    assert evaluate(r, {"errorRatePercent": 19.9}) == [Breach("errorRatePercent", 19.9, 20.0)]


def test_apdex_min_with_apdex_t():
    r = _result(TEN, apdex_t_ms=40)
    # T=40: 10, 20, 40 satisfied; 50..100 minus 70 tolerating (5); 30 and 70 errors
    assert r.apdex == (3 + 5 / 2) / 10 == 0.55
    assert evaluate(r, {"apdexMin": 0.55, "apdexT": 40}) == []
    assert evaluate(r, {"apdexMin": 0.6, "apdexT": 40}) == [Breach("apdexMin", 0.6, 0.55)]
    with pytest.raises(ValueError, match="T="):
        evaluate(r, {"apdexMin": 0.6})  # result is for T=40, threshold for the default 500


def test_all_breaches_reported_and_serializable():
    r = _result(TEN)
    breaches = evaluate(r, {"latencyMs": 10, "errorRatePercent": 1, "apdexMin": 0.99})
    assert [b.metric for b in breaches] == ["latencyMs", "errorRatePercent", "apdexMin"]
    assert breaches[2].to_dict() == {"metric": "apdexMin", "threshold": 0.99, "actual": 0.8}


def test_apdex_min_not_evaluated_without_requests():
    assert evaluate(ResultBuilder().result(), {"apdexMin": 0.9, "latencyMs": 1}) == []


def test_non_numeric_threshold_is_rejected():
    with pytest.raises(ValueError, match="latencyMs"):
        evaluate(_result(TEN), {"latencyMs": "fast"})


def test_exit_codes_come_from_each_tools_table():
    from runners.adapters import get_adapter

    k6 = get_adapter("k6")
    assert k6.classify_exit(99).ok and "thresholds" in k6.classify_exit(99).reason
    assert not k6.classify_exit(107).ok and k6.classify_exit(107).reason == "k6 exited 107: script exception"
    assert get_adapter("gatling").classify_exit(2).ok and not get_adapter("jmeter").classify_exit(2).ok
    assert get_adapter("custom").classify_exit(5).reason == "custom exited with code 5"
    assert get_adapter("locust").classify_exit(3).reason.startswith("locust exited 3 (locustfile")
    assert get_adapter("artillery").classify_exit(-15).reason == "killed by signal SIGTERM"
