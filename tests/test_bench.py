"""`make bench-quick`: every benchmark runs end to end at small sizes and writes its section.

A smoke test of the benchmark scripts (the paths they drive and the JSON they
write), never of their figures: nothing here compares a time with a bound.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import require

ROOT = Path(__file__).resolve().parent.parent
SECTIONS = {
    "P1": ("p50_s", "p99_s", "max_s", "missed", "duplicates", "baseline_p99_s", "baseline_published_in_minute"),
    "P2": ("points_per_s", "copy_points_per_s", "ratio", "batch"),
    "P3": (
        "points_per_s", "readlines_per_s", "ratio", "peak_rss_mb", "naive_points_per_s", "jtl_rows_per_s", "jtl_ratio",
    ),
    "P4": ("runs_list_p95_ms", "run_get_p95_ms", "monitors_list_p95_ms", "queries_per_request", "runs"),
    "P5": ("overhead_wall_s", "overhead_cpu_pct", "bzt_overhead_wall_s"),
}
# Taurus is installed and driven by the full run only (its install alone takes longer than the smoke run).
QUICK_NULLS = {("P5", "bzt_overhead_wall_s")}


@pytest.mark.integration
def test_bench_quick_writes_every_figure(tmp_path):
    database, redis = os.environ.get("DATABASE_URL", ""), os.environ.get("REDIS_URL", "")
    require(database.startswith("postgres") and redis.startswith("redis"), "PostgreSQL and Redis (DATABASE_URL, REDIS_URL)")
    output = tmp_path / "quick.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--quick", "--output", str(output)],
        cwd=ROOT, capture_output=True, text=True, timeout=900, check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    results = json.loads(output.read_text())
    assert results["quick"] is True and results["machine"]["cores"] >= 1
    for section, keys in SECTIONS.items():
        figures = results[section]
        assert "error" not in figures, figures
        for key in keys:
            value = figures[key]
            if (section, key) in QUICK_NULLS:
                assert value is None
                continue
            assert isinstance(value, int | float) and math.isfinite(value) and value >= 0, (section, key, value)
        # The table on stdout names every figure the JSON holds.
        assert section in done.stdout
    assert results["P1"]["missed"] == 0 and results["P1"]["duplicates"] == 0
    assert results["P2"]["points_per_s"] > 0 and results["P3"]["points_per_s"] > 0
    assert results["P4"]["runs"] > 0
