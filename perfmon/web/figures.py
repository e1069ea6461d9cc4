"""The run figures the dashboard compares, and how a change between two of them reads.

One table and one rule for the run page's comparison with the previous run and
the baseline (perfmon/web/queries.py) and for the compare page
(perfmon/web/compare.py), so a figure's label, unit, better direction and the
±SAME_PCT band of "same" cannot differ between them.
"""

from __future__ import annotations

SAME_PCT = 5  # changes within ±5 % read as "same"
# A run's summary figures: key in Run.metrics, label, unit, which way is better ("" when neither is).
FIGURES = (
    ("count", "Requests", "n", ""),
    ("errors", "Errors", "n", "lower"),
    ("error_rate", "Error rate", "%", "lower"),
    ("p50_ms", "p50", "ms", "lower"),
    ("p90_ms", "p90", "ms", "lower"),
    ("p95_ms", "p95", "ms", "lower"),
    ("p99_ms", "p99", "ms", "lower"),
    ("max_ms", "max", "ms", "lower"),
    ("throughput_rps", "Throughput", "req/s", "higher"),
    ("apdex", "Apdex", "", "higher"),
)


def pick(*keys: str) -> tuple:
    """The rows of FIGURES for ``keys``, in the order given (KeyError for a key it lacks)."""
    rows = {row[0]: row for row in FIGURES}
    return tuple(rows[key] for key in keys)


def known(value) -> bool:
    """A figure that is a number (not None, not text, not a boolean)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def change(value, reference, better: str = "") -> dict | None:
    """The change of ``value`` from ``reference``: {"pct", "verdict"}; None when either is unknown.

    ``pct`` is None when the reference is 0 (no relative change to speak of);
    the verdict is "same" within SAME_PCT, else "better" or "worse" by
    ``better`` ("" when neither direction is better).
    """
    if not known(value) or not known(reference):
        return None
    if reference == 0:
        return {"pct": None, "verdict": "same" if value == 0 else ""}
    pct = (value - reference) / abs(reference) * 100.0
    if abs(pct) < SAME_PCT:
        verdict = "same"
    elif not better:
        verdict = ""
    else:
        verdict = "better" if (pct > 0) == (better == "higher") else "worse"
    return {"pct": pct, "verdict": verdict}
