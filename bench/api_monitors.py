"""Latency of GET /api/monitors with N monitors, against the SQL it runs.

    DATABASE_URL=… REDIS_URL=… .venv/bin/python bench/api_monitors.py --monitors 200

Creates a throwaway tenant with N monitors (each with a judged run) and an API
key in the configured database, then answers GET /api/monitors R times in
process (Django's test client: the whole middleware, authentication, rate
limit, serialization and rendering, no network) and prints p50/p95. The
baseline in the same process replays the same SQL statements R times with a
plain cursor, which bounds what any answer could cost on this database.
Deletes what it made.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "perfmon.settings")
os.environ.setdefault("SECRET_KEY", "bench")


def p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20, method="inclusive")[18]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--monitors", type=int, default=200)
    parser.add_argument("--requests", type=int, default=100)
    args = parser.parse_args()

    import django

    django.setup()
    from django.conf import settings
    from django.db import connection
    from django.test import Client
    from django.utils import timezone

    from perfmon.definitions.models import TestDefinition
    from perfmon.monitors.models import Monitor
    from perfmon.runs.models import Run, RunStatus
    from perfmon.tenants.models import ApiKey, Tenant
    from perfmon.tenants.services import create_api_key

    settings.PERFMON_API_RATE_LIMIT = "off"  # the bench measures answers, not the limiter's refusals
    slug = f"bench-{int(time.time())}"
    tenant = Tenant.objects.create(name=slug, slug=slug)
    now = timezone.now()
    schedules = ("*/15 * * * *", "0 * * * *", "*/5 9-17 * * 1-5", "30 2 * * *")
    tests = TestDefinition.all_tenants.bulk_create(
        TestDefinition(tenant=tenant, name=f"t{i}", tool="k6", script="x") for i in range(args.monitors)
    )
    monitors = Monitor.all_tenants.bulk_create(
        Monitor(tenant=tenant, name=f"m{i:05d}", test=test, schedule=schedules[i % len(schedules)],
                next_run_at=now, thresholds={"latencyMs": 500})
        for i, test in enumerate(tests)
    )
    Run.all_tenants.bulk_create(
        Run(tenant=tenant, monitor=m, test=m.test, tool="k6", status=RunStatus.PASS, completed_at=now)
        for m in monitors
    )
    key = create_api_key(tenant=tenant, name="bench").value
    client = Client(HTTP_HOST="127.0.0.1", HTTP_X_API_KEY=key)
    try:
        assert client.get("/api/monitors").status_code == 200  # warm: connections, caches, imports
        statements: list[tuple[str, object]] = []

        def record(execute, sql, params, many, context):
            statements.append((sql, params))
            return execute(sql, params, many, context)

        with connection.execute_wrapper(record):
            body = client.get("/api/monitors")
        assert body.status_code == 200 and len(body.json()) == args.monitors, body.status_code
        answers = []
        for _ in range(args.requests):
            started = time.perf_counter()
            client.get("/api/monitors")
            answers.append(time.perf_counter() - started)
        sql = []
        with connection.cursor() as cursor:
            for _ in range(args.requests):
                started = time.perf_counter()
                for statement, params in statements:
                    cursor.execute(statement, params)
                    cursor.fetchall() if cursor.description else None
                sql.append(time.perf_counter() - started)
        print(f"GET /api/monitors, {args.monitors} monitors, {args.requests} requests, {len(statements)} queries: "
              f"p50 {statistics.median(answers) * 1000:.1f} ms, p95 {p95(answers) * 1000:.1f} ms; "
              f"its SQL p50 {statistics.median(sql) * 1000:.1f} ms, p95 {p95(sql) * 1000:.1f} ms; "
              f"ratio {p95(answers) / p95(sql):.1f}x")
    finally:
        Run.all_tenants.filter(tenant=tenant).delete()
        Monitor.all_tenants.filter(tenant=tenant).delete()
        TestDefinition.all_tenants.filter(tenant=tenant).delete()
        ApiKey.all_tenants.filter(tenant=tenant).delete()  # before the tenant: its audit entry names the tenant
        tenant.delete()


if __name__ == "__main__":
    main()
