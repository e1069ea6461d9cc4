"""Apdex (Application Performance Index) for a target time T.

A request is *satisfied* if it is not an error and took <= T, *tolerating*
if it is not an error and took more than T but <= 4 T, and *frustrated*
otherwise (slower than 4 T, or an error by the one error rule in
runners.records). Apdex = (satisfied + tolerating / 2) / count, in 0..1.
"""

from __future__ import annotations

SATISFIED = "satisfied"
TOLERATING = "tolerating"
FRUSTRATED = "frustrated"


def classify(latency_ms: float, error: bool, t_ms: float) -> str:
    """Return SATISFIED, TOLERATING or FRUSTRATED for one request."""
    if error or latency_ms > 4 * t_ms:
        return FRUSTRATED
    if latency_ms <= t_ms:
        return SATISFIED
    return TOLERATING


def score(satisfied: int, tolerating: int, count: int) -> float | None:
    """Return the Apdex score, or None when there were no requests (undefined).

    Raises ValueError if the counters are inconsistent (negative, or more
    satisfied + tolerating than requests).
    """
    if satisfied < 0 or tolerating < 0 or satisfied + tolerating > count:
        raise ValueError(f"inconsistent Apdex counters: {satisfied=} {tolerating=} {count=}")
    if count == 0:
        return None
    return (satisfied + tolerating / 2) / count


def check_t(t_ms: float) -> float:
    """Return T as float; raise ValueError unless it is a positive number."""
    t = float(t_ms)
    if not t > 0:
        raise ValueError(f"Apdex T must be > 0 ms, got {t_ms!r}")
    return t
