"""Rows for the dashboard's tests: judged runs with figures, series, logs and alerts."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from perfmon.alerts.models import Alert, AlertKind
from perfmon.runs.models import Run, RunLogChunk, SeriesPoint


def metrics(p95=100.0, *, error_rate=0.01, rps=20.0, apdex=0.95, count=1000):
    return {
        "count": count, "errors": int(count * error_rate), "error_rate": error_rate, "p50_ms": p95 / 2,
        "p90_ms": p95 * 0.9, "p95_ms": p95, "p99_ms": p95 * 1.5, "min_ms": 1.0, "max_ms": p95 * 3,
        "avg_ms": p95 / 1.8, "throughput_rps": rps, "apdex": apdex, "apdex_t_ms": 500.0,
    }


def make_run(monitor, *, status="pass", minutes_ago=0, p95=100.0, **metric_fields) -> Run:
    run = Run.all_tenants.create(
        tenant=monitor.tenant, monitor=monitor, test=monitor.test, tool=monitor.test.tool, status=status,
        metrics=metrics(p95, **metric_fields) if status in ("pass", "fail") else {},
        thresholds=monitor.thresholds, completed_at=timezone.now() - timedelta(minutes=minutes_ago),
    )
    Run.all_tenants.filter(pk=run.pk).update(created_at=timezone.now() - timedelta(minutes=minutes_ago, seconds=30))
    run.refresh_from_db()
    return run


def bulk_runs(monitor, n: int, *, status="pass") -> None:
    """``n`` judged runs of ``monitor`` in one statement (the 10,000-run history)."""
    now = timezone.now()
    Run.all_tenants.bulk_create(
        [
            Run(tenant=monitor.tenant, monitor=monitor, test=monitor.test, tool=monitor.test.tool, status=status,
                metrics=metrics(100.0 + i % 50), completed_at=now - timedelta(minutes=n - i))
            for i in range(n)
        ],
        batch_size=2000,
    )


def add_series(run, n: int, *, start_seq: int = 0) -> None:
    base = timezone.now() - timedelta(seconds=5 * (n + start_seq))
    SeriesPoint.all_tenants.bulk_create([
        SeriesPoint(run=run, seq=seq, start=base + timedelta(seconds=5 * seq), interval_s=5.0, count=100,
                    errors=seq % 3, p50_ms=40.0 + seq, p95_ms=90.0 + seq, p99_ms=130.0 + seq, throughput_rps=20.0)
        for seq in range(start_seq, start_seq + n)
    ])


def add_logs(run, texts, *, start_seq: int = 0) -> None:
    RunLogChunk.all_tenants.bulk_create(
        [RunLogChunk(run=run, seq=start_seq + i, text=text) for i, text in enumerate(texts)]
    )


def open_alert(monitor, *, run=None, title="Login: latencyMs breached") -> Alert:
    return Alert.all_tenants.create(
        tenant=monitor.tenant, monitor=monitor, kind=AlertKind.RUN_FAILED, title=title, opened_at=timezone.now(),
        first_run=run, last_run=run,
    )
