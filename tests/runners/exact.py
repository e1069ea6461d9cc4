"""Independent reference figures for tests: exact statistics of raw samples.

Written without runners' code on purpose, so the tests compare runners
against a second implementation of the definitions in docs/tools.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction


def exact_percentile(values: list[float], q: float) -> float:
    """Nearest rank: the value at rank ceil(q/100 * n) of the sorted values (rank >= 1)."""
    ordered = sorted(values)
    rank = max(1, math.ceil(Fraction(str(q)) * len(ordered) / 100))
    return ordered[rank - 1]


def within_hdr(actual: float, exact: float) -> bool:
    """HDR precision: 0.1 % relative plus one unit (1 us = 0.001 ms)."""
    return abs(actual - exact) <= exact * 0.001 + 0.001


def assert_within_hdr(actual: float, exact: float, what: str = "value") -> None:
    assert within_hdr(actual, exact), f"{what}: {actual} not within HDR precision of {exact}"


@dataclass
class Raw:
    """One request as the test reads it from a tool's raw output."""

    start: float
    ms: float
    status: int
    failed: bool = False
    name: str = ""
    message: str = ""  # the tool's own error message, where its raw output has one

    @property
    def error(self) -> bool:
        return self.failed or self.status >= 400 or self.status == 0


def check_result(result, raws: list[Raw], apdex_t_ms: float = 500.0) -> None:
    """Assert a Result against exact figures computed from ``raws``."""
    assert raws, "no raw records to compare with"
    latencies = [r.ms for r in raws]
    errors = sum(r.error for r in raws)
    assert result.count == len(raws)
    assert result.errors == errors
    assert result.error_rate == errors / len(raws)
    assert abs(result.min_ms - min(latencies)) < 1e-9
    assert abs(result.max_ms - max(latencies)) < 1e-9
    assert abs(result.avg_ms - sum(latencies) / len(raws)) < 1e-6
    for q in (50, 90, 95, 99):
        assert_within_hdr(getattr(result, f"p{q}_ms"), exact_percentile(latencies, q), f"p{q}")
    started = min(r.start for r in raws)
    ended = max(r.start + r.ms / 1000 for r in raws)
    assert abs(result.started_at - started) < 1e-6
    assert abs(result.ended_at - ended) < 1e-6
    assert abs(result.duration_s - (ended - started)) < 1e-6
    assert abs(result.throughput_rps - len(raws) / (ended - started)) < 1e-6 * result.throughput_rps
    satisfied = sum(1 for r in raws if not r.error and r.ms <= apdex_t_ms)
    tolerating = sum(1 for r in raws if not r.error and apdex_t_ms < r.ms <= 4 * apdex_t_ms)
    assert abs(result.apdex - (satisfied + tolerating / 2) / len(raws)) < 1e-12
    assert sum(p.count for p in result.series) == result.count
    assert sum(p.errors for p in result.series) == result.errors
