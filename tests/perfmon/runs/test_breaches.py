"""Breaches in words: unit, percentile and direction of each kind of threshold."""

from __future__ import annotations

import pytest

from perfmon.runs.breaches import describe, describe_all, figure


@pytest.mark.parametrize(("value", "text"), [
    (1.0, "1"), (9.1349, "9.13"), (12.0, "12"), (12.55, "12.6"), (0.5, "0.5"), (1500.0, "1,500"), (387.4, "387"),
])
def test_figures_keep_about_three_digits_without_trailing_zeros(value, text):
    assert figure(value) == text


def test_latency_names_the_percentile_the_run_was_judged_at():
    breach = {"metric": "latencyMs", "threshold": 1.0, "actual": 9.13}
    assert describe(breach, {"latencyMs": 1}) == "p95 latency 9.13 ms > threshold 1 ms"
    assert describe(breach, {"latencyMs": 1, "latencyPercentile": 99}) == "p99 latency 9.13 ms > threshold 1 ms"


def test_error_rate_in_percent_and_apdex_as_a_score_below_its_floor():
    assert describe_all([
        {"metric": "errorRatePercent", "threshold": 5, "actual": 12.5},
        {"metric": "apdexMin", "threshold": 0.85, "actual": 0.6},
    ]) == ["error rate 12.5 % > threshold 5 %", "Apdex 0.60 < minimum 0.85"]


def test_unknown_or_malformed_breaches_still_render():
    assert describe({"metric": "bytesMax", "threshold": 10, "actual": 12}) == "bytesMax 12 breached threshold 10"
    assert describe("latency") == "latency"
