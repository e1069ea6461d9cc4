"""What every benchmark script shares: Django set-up, the machine, percentiles, the result line.

Each figure is one script (``bench/p1_schedule.py`` … ``bench/p5_agent.py``)
with ``run(quick: bool) -> dict`` returning its section of
``bench/results/latest.json``, and a ``main`` that runs it standalone against
the configured ``DATABASE_URL``/``REDIS_URL``. ``bench/run.py`` runs each in
its own process on a scratch database and gathers the sections.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULT_PREFIX = "BENCH-RESULT "

sys.path.insert(0, str(ROOT))


def setup_django() -> None:
    """Configure Django from the environment, as the control plane's processes do."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "perfmon.settings")
    os.environ.setdefault("SECRET_KEY", "bench")
    import django

    django.setup()


def machine() -> dict:
    """What the figures were measured on."""
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = None
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "system": f"{platform.system()} {platform.release()}",
        "load_average_1m": round(load, 2) if load is not None else None,
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def percentile(values: Iterable[float], q: float) -> float:
    """The q-th percentile (0-100) by the nearest-rank method: one of the values, never interpolated."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values")
    rank = max(1, -(-len(ordered) * q // 100))  # ceil(n * q / 100)
    return ordered[int(rank) - 1]


def peak_rss_mb() -> float:
    """This process's peak resident set size so far, in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def emit(result: dict) -> None:
    """Print the section as the one line ``bench/run.py`` reads back."""
    print(RESULT_PREFIX + json.dumps(result, sort_keys=True), flush=True)


def script_main(run: Callable[[bool], dict], description: str) -> None:
    """The standalone entry point of one benchmark script."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="small sizes, a smoke test (figures not meaningful)")
    args = parser.parse_args()
    emit(run(args.quick))
