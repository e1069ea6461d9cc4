"""P4: the read paths of /api against the SQL they run, with 1,000,000 runs across 1,000 monitors.

    DATABASE_URL=… REDIS_URL=… .venv/bin/python bench/p4_api.py [--quick]

Loads two throwaway tenants in the configured database: one with 1,000
monitors and 1,000,000 judged runs (--quick: 50 monitors, 10,000 runs),
written by one INSERT … SELECT over generate_series, and one with 200
monitors (--quick: 50) of mixed schedules, thresholds and parameters, each
with a judged run. Then it answers, in process with Django's test client
(every middleware, X-API-Key authentication, the rate limit in Redis,
serialization and rendering, no network), many times each:

- ``GET /api/monitors/{id}/runs?limit=20``, over every monitor in turn;
- ``GET /api/runs/{id}``, over a sample of the runs;
- ``GET /api/monitors``, the 200 monitors.

The baseline, in the same process, replays the very SQL statements each
answer ran (recorded per request) with a plain cursor, fetching every row:
what no answer could be faster than on this database. Figures are p95 (and
p50) in milliseconds by the nearest rank, with the ratio answer / SQL.
``queries_per_request`` is the runs list's; ``queries`` has each endpoint's.
Deletes only the rows of its own two tenants, with plain SQL (no audit row
per object), and its rate-limit counters in Redis.
"""

from __future__ import annotations

import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import machine, percentile, script_main, setup_django  # noqa: E402

RUNS_PAGE = 20
LOAD_SESSIONS = 2


def _load_runs_part(tenant_id, monitors: list[tuple], runs: int, part: int, parts: int) -> None:
    """Runs number ``part``, ``part + parts``, … of the load below, in this thread's own connection."""
    from django.db import connection, transaction

    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("CREATE TEMP TABLE bench_p4_monitors (idx int PRIMARY KEY, monitor_id uuid, test_id uuid) "
                           "ON COMMIT DROP")
            cursor.executemany(
                "INSERT INTO bench_p4_monitors VALUES (%s, %s, %s)",
                [(index, monitor_id, test_id) for index, (monitor_id, test_id) in enumerate(monitors)],
            )
            cursor.execute(_SHAPES, {"shapes": SHAPES})
            cursor.execute(_INSERT_RUNS, {"tenant": tenant_id, "runs": runs, "monitors": len(monitors),
                                          "part": part, "parts": parts, "shapes": SHAPES})
    finally:
        connection.close()


# The figures of a run, in SHAPES variants (a status, its metrics, breaches and error), built once.
SHAPES = 997
_SHAPES = """
    CREATE TEMP TABLE bench_p4_shapes ON COMMIT DROP AS
    SELECT k, CASE WHEN k %% 50 = 7 THEN 'error' WHEN k %% 10 = 3 THEN 'fail' ELSE 'pass' END AS status,
           CASE WHEN k %% 50 = 7 THEN '{}'::jsonb ELSE jsonb_build_object(
               'p50_ms', 100 + k %% 37, 'p90_ms', 300 + k %% 53, 'p95_ms', 400 + k %% 211,
               'p99_ms', 700 + k %% 301, 'avg_ms', 120.5 + k %% 41, 'min_ms', 3.25, 'max_ms', 1500 + k %% 97,
               'error_rate', (k %% 7) / 1000.0, 'throughput_rps', 40.0 + k %% 13, 'count', 2400 + k %% 77,
               'errors', k %% 7, 'apdex', 0.9) END AS metrics,
           CASE WHEN k %% 50 <> 7 AND k %% 10 = 3
                THEN jsonb_build_array(jsonb_build_object('metric', 'latencyMs', 'threshold', 500.0,
                                                          'actual', 600.0 + k %% 211))
                ELSE '[]'::jsonb END AS breaches,
           CASE WHEN k %% 50 = 7 THEN 'k6 exited 107: script exception' ELSE '' END AS error
    FROM generate_series(0, %(shapes)s - 1) AS k
"""
# Run g of the load belongs to monitor g % M and is the (g // M)-th of its runs, 15 minutes apart.
_INSERT_RUNS = """
    INSERT INTO runs_run (
        id, created_at, updated_at, tenant_id, monitor_id, test_id, agent_id, status, status_reason,
        trigger, scheduled_for, tool, script, parameters, thresholds, apdex_t_ms, published_at,
        claimed_at, started_at, completed_at, metrics, histogram, breaches, error, checks, requests,
        distribution)
    SELECT gen_random_uuid(), t.at, t.at, %(tenant)s, m.monitor_id, m.test_id, NULL, s.status, '',
           'schedule', t.at, 'k6', '', '{}'::jsonb, '{"latencyMs": 500}'::jsonb, 500, t.at,
           t.at + interval '1 second', t.at + interval '2 seconds', t.at + interval '62 seconds',
           s.metrics, '', s.breaches, s.error, '{}'::jsonb, '[]'::jsonb, NULL
    FROM generate_series(%(part)s, %(runs)s - 1, %(parts)s) AS g
    JOIN bench_p4_monitors AS m ON m.idx = g %% %(monitors)s
    JOIN bench_p4_shapes AS s ON s.k = g %% %(shapes)s
    CROSS JOIN LATERAL (SELECT now() - (%(runs)s / %(monitors)s - g / %(monitors)s) * interval '15 minutes'
                               - (g %% %(monitors)s) * interval '1 millisecond' AS at) AS t
"""


def _in_parallel(work, count: int) -> None:
    """``work(i)`` for i in 0..count-1, each in its own thread (and database connection)."""
    with ThreadPoolExecutor(count) as pool:
        for future in [pool.submit(work, i) for i in range(count)]:
            future.result()


def _load_runs(tenant_id, monitors: list[tuple], runs: int) -> None:
    """``runs`` judged runs spread evenly over ``monitors`` ((id, test id) pairs), one every 15 minutes each.

    One in ten fails with a breach, one in fifty errors with a reason; every run carries the
    summary figures the judge stores. Written by INSERT … SELECT generate_series in two sessions
    at once: most of the time is PostgreSQL's (indexes, WAL, foreign-key checks), on both cores.
    """
    _in_parallel(lambda part: _load_runs_part(tenant_id, monitors, runs, part, LOAD_SESSIONS), LOAD_SESSIONS)


def _tenant_with_monitors(slug: str, count: int, *, with_runs: bool):
    """A tenant with ``count`` monitors (each its own test) and an API key; a judged run each if asked."""
    from django.utils import timezone

    from perfmon.definitions.models import TestDefinition
    from perfmon.monitors.models import Monitor
    from perfmon.runs.models import Run, RunStatus
    from perfmon.tenants.models import Tenant
    from perfmon.tenants.services import create_api_key

    tenant = Tenant.objects.create(name=slug, slug=slug)
    now = timezone.now()
    schedules = ("*/15 * * * *", "0 * * * *", "*/5 9-17 * * 1-5", "30 2 * * *", "0 0 * * 0", "*/10 * * * *")
    thresholds = ({"latencyMs": 500}, {"latencyMs": 2000, "errorRatePercent": 5.0, "apdexMin": 0.7},
                  {}, {"latencyMs": 300, "latencyPercentile": 99, "requests": {"login": {"latencyMs": 250}}})
    tests = TestDefinition.all_tenants.bulk_create(
        TestDefinition(tenant=tenant, name=f"t{i}", tool=("k6", "locust", "jmeter")[i % 3], script="x" * 2000,
                       script_filename=f"load-{i}.js", distribution={"agents": 2} if i % 7 == 0 else None)
        for i in range(count)
    )
    monitors = Monitor.all_tenants.bulk_create(
        Monitor(tenant=tenant, name=f"m{i:05d}", test=test, schedule=schedules[i % len(schedules)],
                timezone=("UTC", "Europe/Berlin")[i % 2], enabled=i % 5 != 0, next_run_at=now if i % 5 else None,
                thresholds=thresholds[i % len(thresholds)], location=("", "eu-west-1")[i % 2],
                parameters={"TARGET_HOST": "https://api.example.com", "VUS": str(i % 20)},
                last_run_at=now if with_runs else None, last_status="pass" if with_runs else "")
        for i, test in enumerate(tests)
    )
    if with_runs:
        Run.all_tenants.bulk_create(
            Run(tenant=tenant, monitor=m, test=m.test, tool="k6", status=RunStatus.PASS, completed_at=now)
            for m in monitors
        )
    key = create_api_key(tenant=tenant, name="bench")
    return tenant, monitors, key


def _delete_runs_part(tenant_ids: list[str], part: int, parts: int) -> None:
    from django.db import connection

    try:
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM runs_run WHERE tenant_id = ANY(%s::uuid[]) AND "
                           "(monitor_id IS NULL OR abs(hashtext(monitor_id::text)) %% %s = %s)", [tenant_ids, parts, part])
    finally:
        connection.close()


def _delete_tenants(tenant_ids: list) -> None:
    """Every row of these tenants, child tables first, in plain SQL: no audit row per deleted object.

    The runs go first, in two sessions at once (each run deleted is checked against the six
    tables that may point at it).
    """
    from django.db import connection, transaction

    ids = [str(pk) for pk in tenant_ids]
    _in_parallel(lambda part: _delete_runs_part(ids, part, LOAD_SESSIONS), LOAD_SESSIONS)
    with transaction.atomic(), connection.cursor() as cursor:
        for table in ("runs_run", "alerts_alert", "monitors_monitor", "definitions_testdefinition",
                      "tenants_apikey", "operations_auditentry"):
            cursor.execute(f"DELETE FROM {table} WHERE tenant_id = ANY(%s::uuid[])", [ids])  # noqa: S608
        cursor.execute("DELETE FROM tenants_tenant WHERE id = ANY(%s::uuid[])", [ids])


def _measure(client, paths: list[str], repeat: int) -> tuple[list[float], list[list[tuple]]]:
    """Each path answered ``repeat`` times in turn: the seconds per answer, and the SQL each one ran."""
    from django.db import connection

    recorded: list[list[tuple]] = []
    for path in paths:  # warm (imports, caches, connection) and record each answer's statements
        statements: list[tuple] = []

        def record(execute, sql, params, many, context, statements=statements):
            statements.append((sql, params))
            return execute(sql, params, many, context)

        with connection.execute_wrapper(record):
            response = client.get(path)
        assert response.status_code == 200, (path, response.status_code, response.content[:300])
        recorded.append(statements)
    seconds = []
    for _ in range(repeat):
        for path in paths:
            started = time.perf_counter()
            response = client.get(path)
            seconds.append(time.perf_counter() - started)
            assert response.status_code == 200, response.status_code
    return seconds, recorded


def _replay(recorded: list[list[tuple]], repeat: int) -> list[float]:
    """The recorded statements of each answer replayed with a plain cursor: the seconds per answer."""
    from django.db import connection

    seconds = []
    with connection.cursor() as cursor:
        for _ in range(repeat):
            for statements in recorded:
                started = time.perf_counter()
                for sql, params in statements:
                    cursor.execute(sql, params)
                    if cursor.description:
                        cursor.fetchall()
                seconds.append(time.perf_counter() - started)
    return seconds


def _figures(name: str, answers: list[float], sql: list[float]) -> dict:
    p95, sql_p95 = percentile(answers, 95) * 1000, percentile(sql, 95) * 1000
    return {
        f"{name}_p95_ms": round(p95, 2),
        f"{name}_p50_ms": round(percentile(answers, 50) * 1000, 2),
        f"{name}_sql_p95_ms": round(sql_p95, 2),
        f"{name}_sql_p50_ms": round(percentile(sql, 50) * 1000, 2),
        f"{name}_ratio": round(p95 / sql_p95, 2),
        f"{name}_answers": len(answers),
    }


def run(quick: bool) -> dict:
    setup_django()
    from django.conf import settings
    from django.core.cache import cache
    from django.db import connection
    from django.test import Client

    from perfmon.runs.models import Run

    monitor_count, run_count, list_monitors = (50, 10_000, 50) if quick else (1_000, 1_000_000, 200)
    repeat = 3 if quick else 5  # rounds over the paths; the monitors list is answered rounds * 40 times
    # Every answer still goes through the rate limiter (its Redis round trips included), never refused.
    settings.PERFMON_API_RATE_LIMIT = "100000000/minute"
    stamp = f"{int(time.time())}-{time.perf_counter_ns() % 100000}"
    tenants: list = []
    key_ids: list = []
    result: dict = {"machine": machine()}
    first_window = int(time.time() // 60)
    try:
        started = time.perf_counter()
        history, monitors, history_key = _tenant_with_monitors(f"bench-p4-{stamp}-h", monitor_count, with_runs=False)
        tenants.append(history)
        key_ids.append(history_key.api_key.pk)
        listing, _, listing_key = _tenant_with_monitors(f"bench-p4-{stamp}-l", list_monitors, with_runs=True)
        tenants.append(listing)
        key_ids.append(listing_key.api_key.pk)
        _load_runs(history.pk, [(m.pk, m.test_id) for m in monitors], run_count)
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE runs_run")  # what autovacuum does after a bulk load
        result["load_s"] = round(time.perf_counter() - started, 2)
        result["runs"] = Run.all_tenants.filter(tenant=history).count()
        result["monitors"] = monitor_count
        result["list_monitors"] = list_monitors

        client = Client(HTTP_HOST="127.0.0.1", HTTP_X_API_KEY=history_key.value)
        runs_paths = [f"/api/monitors/{m.pk}/runs?limit={RUNS_PAGE}" for m in monitors]
        runs_paths = runs_paths[:25] if quick else runs_paths[::5]  # full: 200 monitors of the 1,000
        sample = list(Run.all_tenants.filter(tenant=history).order_by("?").values_list("pk", flat=True)[:200])
        run_paths = [f"/api/runs/{pk}" for pk in (sample[:25] if quick else sample)]

        answers, recorded = _measure(client, runs_paths, repeat)
        result.update(_figures("runs_list", answers, _replay(recorded, repeat)))
        queries = {"runs_list": max(len(r) for r in recorded)}
        result["queries_per_request"] = queries["runs_list"]
        result["queries_per_request_min"] = min(len(r) for r in recorded)

        answers, recorded = _measure(client, run_paths, repeat)
        result.update(_figures("run_get", answers, _replay(recorded, repeat)))
        queries["run_get"] = max(len(r) for r in recorded)

        listing_client = Client(HTTP_HOST="127.0.0.1", HTTP_X_API_KEY=listing_key.value)
        answers, recorded = _measure(listing_client, ["/api/monitors"], repeat * 40)
        body = listing_client.get("/api/monitors").json()
        assert len(body) == list_monitors, len(body)
        result.update(_figures("monitors_list", answers, _replay(recorded, repeat * 40)))
        queries["monitors_list"] = len(recorded[0])
        result["queries"] = queries
        result["machine_after"] = machine()
    finally:
        started = time.perf_counter()
        if tenants:
            _delete_tenants([t.pk for t in tenants])
        # The limiter's counters of the bench's keys (perfmon/api/monitor/throttling.py names them).
        cache.delete_many([f"perfmon:api-rate:key:{pk}:60:{window}" for pk in key_ids
                           for window in range(first_window, int(time.time() // 60) + 1)])
        result["cleanup_s"] = round(time.perf_counter() - started, 2)
    return result


if __name__ == "__main__":
    script_main(run, __doc__)
