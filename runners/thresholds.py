"""Threshold evaluation: which of a monitor's thresholds a Result breaches.

Thresholds use the API's camelCase keys:

  latencyMs          breached if the chosen percentile > latencyMs; the
                     percentile is p95 unless latencyPercentile is 50, 90, 95 or 99
  errorRatePercent   breached if error_rate * 100 > errorRatePercent
  apdexMin           breached if apdex < apdexMin (Apdex for apdexT, default
                     500 ms; needs the result's Apdex to be for that T)

  requests           per request name, as k6's per-tag thresholds:
                     {"login": {"latencyMs": 300, "errorRatePercent": 1}} judges
                     that name's own figures (runners.requests; latencyMs,
                     latencyPercentile and errorRatePercent); a name the run
                     made no request of is not evaluated

A missing or None key is not evaluated. A Result without requests has no
Apdex; apdexMin is then not evaluated (the control plane judges a run
without requests on its own).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from runners.requests import entry_of
from runners.result import Result

LATENCY_PERCENTILES = (50, 90, 95, 99)


@dataclass(frozen=True, slots=True)
class Breach:
    """One threshold the result did not meet."""

    metric: str  # "latencyMs", "errorRatePercent" or "apdexMin"
    threshold: float
    actual: float
    request: str | None = None  # the request name, for a threshold of one name (``requests``)

    def to_dict(self) -> dict:
        data = asdict(self)
        if self.request is None:
            del data["request"]
        return data


def _threshold(thresholds: Mapping[str, Any], key: str) -> float | None:
    value = thresholds.get(key)
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError(f"threshold {key} must be a number, got {value!r}")
    try:
        return float(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"threshold {key} must be a number, got {value!r}") from exc


def latency_percentile(thresholds: Mapping[str, Any]) -> int:
    """The percentile latencyMs is compared with: latencyPercentile if valid, else 95."""
    chosen = thresholds.get("latencyPercentile")
    try:
        chosen = int(chosen) if chosen is not None and float(chosen) == int(chosen) else None
    except (TypeError, ValueError):
        chosen = None
    return chosen if chosen in LATENCY_PERCENTILES else 95


def evaluate(result: Result, thresholds: Mapping[str, Any] | None,
             apdex_t_ms: float = 500.0) -> list[Breach]:
    """Return the breaches of ``thresholds`` by ``result`` (empty list: all met).

    Raises ValueError if a threshold value is not a number, or if apdexMin is
    set and the result's Apdex was computed for a T other than
    ``thresholds["apdexT"]`` (or ``apdex_t_ms`` when apdexT is absent).
    """
    thresholds = thresholds or {}
    breaches = _figures_breaches(result, thresholds)
    apdex_min = _threshold(thresholds, "apdexMin")
    if apdex_min is not None and result.apdex is not None:
        t_ms = _threshold(thresholds, "apdexT") or apdex_t_ms
        if float(t_ms) != result.apdex_t_ms:
            raise ValueError(f"result's Apdex is for T={result.apdex_t_ms} ms, "
                             f"the threshold asks for T={t_ms} ms")
        if result.apdex < apdex_min:
            breaches.append(Breach("apdexMin", apdex_min, result.apdex))
    per_request = thresholds.get("requests") or {}
    if not isinstance(per_request, Mapping):
        raise ValueError("threshold requests must be an object of request names")
    for name, own in per_request.items():
        entry = entry_of(result.requests, str(name))
        if entry is not None and own:
            if not isinstance(own, Mapping):
                raise ValueError(f"thresholds of request {name!r} must be an object")
            breaches += _figures_breaches(entry, own, request=str(name))
    return breaches


def _figures_breaches(figures, thresholds: Mapping[str, Any], *, request: str | None = None) -> list[Breach]:
    """latencyMs and errorRatePercent of a Result or of one request name's RequestEntry."""
    breaches = []
    latency = _threshold(thresholds, "latencyMs")
    if latency is not None:
        q = latency_percentile(thresholds)
        actual = getattr(figures, f"p{q}_ms")
        if actual > latency:
            breaches.append(Breach("latencyMs", latency, actual, request))
    error_pct = _threshold(thresholds, "errorRatePercent")
    if error_pct is not None:
        actual = (figures.errors / figures.count if figures.count else 0.0) * 100.0
        if actual > error_pct:
            breaches.append(Breach("errorRatePercent", error_pct, actual, request))
    return breaches
