"""A breached threshold in words, with its unit and percentile: ``p95 latency 9.13 ms > threshold 1 ms``.

The stored breach (``runners.thresholds.Breach.to_dict()``) names the
threshold key and two bare numbers; which percentile the latency was
measured at lives in the thresholds the run copied at dispatch. The run
page, the run lists, alert titles and the admin all phrase a breach here,
so they read the same everywhere.
"""

from __future__ import annotations

from runners.thresholds import latency_percentile


def _number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def figure(value) -> str:
    """About three significant digits, without trailing zeros: 9.13, 12.5, 1, 1,500."""
    if not _number(value):
        return str(value)
    magnitude = abs(value)
    digits = 0 if magnitude >= 100 else 1 if magnitude >= 10 else 2
    text = f"{value:,.{digits}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def describe(breach, thresholds=None) -> str:
    """One breach as a sentence fragment; ``thresholds`` are the run's (for the latency percentile)."""
    if not isinstance(breach, dict):
        return str(breach)
    metric, limit, actual = breach.get("metric"), breach.get("threshold"), breach.get("actual")
    request = breach.get("request")
    if request is not None:  # a threshold of one request name: its own percentile, named first
        own = (thresholds or {}).get("requests", {}).get(request) if isinstance(thresholds, dict) else None
        return f"{request}: {describe({k: v for k, v in breach.items() if k != 'request'}, own or {})}"
    if metric == "latencyMs":
        percentile = latency_percentile(thresholds if isinstance(thresholds, dict) else {})
        return f"p{percentile} latency {figure(actual)} ms > threshold {figure(limit)} ms"
    if metric == "errorRatePercent":
        return f"error rate {figure(actual)} % > threshold {figure(limit)} %"
    if metric == "apdexMin":
        # A score from 0 to 1, and a floor rather than a ceiling.
        actual_text = f"{actual:.2f}" if _number(actual) else str(actual)
        return f"Apdex {actual_text} < minimum {figure(limit)}"
    return f"{metric} {figure(actual)} breached threshold {figure(limit)}"


def describe_all(breaches, thresholds=None) -> list[str]:
    """Every breach of a run, in the order the thresholds were evaluated."""
    return [describe(breach, thresholds) for breach in breaches or []]
