"""Scheduling throughput of the tick: N monitors all due at once, dispatched and published.

    DATABASE_URL=… REDIS_URL=… .venv/bin/python bench/tick.py --monitors 2000

Creates a throwaway tenant and agent in the configured database, makes every
monitor due, runs one tick (claim, next_run_at, runs, agent choice, publish)
and prints the wall time and monitors per second, then deletes what it made.
The baseline in the same process is a plain bulk insert of as many runs, which
bounds what any tick could do on this database.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "perfmon.settings")
os.environ.setdefault("SECRET_KEY", "bench")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--monitors", type=int, default=2000)
    args = parser.parse_args()

    import django

    django.setup()
    from django.db import transaction
    from django.utils import timezone

    from perfmon.definitions.models import TestDefinition
    from perfmon.fleet.models import Agent
    from perfmon.monitors.models import Monitor
    from perfmon.runs.models import Run
    from perfmon.runs.tick import dispatch_due
    from perfmon.tenants.models import Tenant

    slug = f"bench-{int(time.time())}"
    tenant = Tenant.objects.create(name=slug, slug=slug)
    agent = Agent.all_tenants.create(id=slug, tenant=tenant, tools={"k6": "1"}, capacity=100000,
                                     last_heartbeat_at=timezone.now())
    now = timezone.now()
    tests = TestDefinition.all_tenants.bulk_create(
        TestDefinition(tenant=tenant, name=f"t{i}", tool="k6", script="x") for i in range(args.monitors)
    )
    Monitor.all_tenants.bulk_create(
        Monitor(tenant=tenant, name=f"m{i}", test=test, schedule="* * * * *", next_run_at=now)
        for i, test in enumerate(tests)
    )
    try:
        started = time.perf_counter()
        with transaction.atomic():
            report = dispatch_due(now=now)
        tick_s = time.perf_counter() - started
        assert report.dispatched == args.monitors, report

        Run.all_tenants.filter(tenant=tenant).delete()
        started = time.perf_counter()
        Run.all_tenants.bulk_create(
            Run(tenant=tenant, monitor_id=m, test_id=t, tool="k6", agent=agent)
            for m, t in Monitor.all_tenants.filter(tenant=tenant).values_list("pk", "test_id")
        )
        baseline_s = time.perf_counter() - started
        print(f"tick: {args.monitors} monitors in {tick_s:.2f}s = {args.monitors / tick_s:.0f}/s; "
              f"bulk-insert baseline {baseline_s:.2f}s; ratio {tick_s / baseline_s:.1f}x")
    finally:
        Run.all_tenants.filter(tenant=tenant).delete()
        Monitor.all_tenants.filter(tenant=tenant).delete()
        TestDefinition.all_tenants.filter(tenant=tenant).delete()
        Agent.all_tenants.filter(pk=agent.pk).delete()
        tenant.delete()


if __name__ == "__main__":
    main()
