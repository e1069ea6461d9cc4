"""Retention deletes exactly what is old, in bounded batches, and keeps run summaries longer."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from perfmon.alerts.models import Alert
from perfmon.operations.models import TenantSettings
from perfmon.operations.retention import policy_for, purge
from perfmon.runs.models import Run, RunLogChunk, SeriesPoint
from tests.factories import make_monitor

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _defaults(settings):
    settings.PERFMON_RETENTION_SERIES_DAYS = 30
    settings.PERFMON_RETENTION_RUNS_DAYS = 400
    settings.PERFMON_RETENTION_ALERTS_DAYS = 400
    settings.PERFMON_TIER_MAX_RETENTION_DAYS = {}
    settings.PERFMON_RETENTION_BATCH = 3
    settings.PERFMON_RETENTION_MAX_BATCHES = 1000


def old_run(tenant, monitor, days: float, *, status="pass", points=2, chunks=2) -> Run:
    now = timezone.now()
    run = Run.objects.create(tenant=tenant, monitor=monitor, tool="k6", status=status,
                             metrics={"p95_ms": 100.0, "count": 10})
    Run.all_tenants.filter(pk=run.pk).update(created_at=now - timedelta(days=days))
    SeriesPoint.all_tenants.bulk_create([
        SeriesPoint(run=run, seq=i, start=now, interval_s=5, count=1, errors=0, throughput_rps=1.0)
        for i in range(points)
    ])
    RunLogChunk.all_tenants.bulk_create([RunLogChunk(run=run, seq=i, text="x") for i in range(chunks)])
    return run


def detail(run) -> tuple[int, int]:
    return SeriesPoint.all_tenants.filter(run=run).count(), RunLogChunk.all_tenants.filter(run=run).count()


def test_series_and_logs_go_after_30_days_and_summaries_after_400(acme):
    monitor = make_monitor(acme)
    fresh = old_run(acme, monitor, 29)
    month_old = old_run(acme, monitor, 31, status="fail")
    year_old = old_run(acme, monitor, 399)
    ancient = old_run(acme, monitor, 401)
    outcome = purge()
    assert detail(fresh) == (2, 2)
    assert detail(month_old) == (0, 0) and detail(year_old) == (0, 0)
    # The summaries of runs younger than 400 days stay, with their metrics.
    kept = set(Run.objects.for_tenant(acme).values_list("pk", flat=True))
    assert kept == {fresh.pk, month_old.pk, year_old.pk}
    assert Run.objects.for_tenant(acme).get(pk=year_old.pk).metrics["p95_ms"] == 100.0
    assert not Run.all_tenants.filter(pk=ancient.pk).exists()
    assert (outcome.series, outcome.logs, outcome.runs) == (6, 6, 1)
    assert outcome.complete


def test_active_runs_are_never_touched(acme):
    stuck = old_run(acme, make_monitor(acme), 500, status="running")
    purge()
    assert detail(stuck) == (2, 2) and Run.all_tenants.filter(pk=stuck.pk).exists()


def test_per_tenant_settings_and_other_tenants(acme, globex):
    TenantSettings.objects.create(tenant=acme, series_retention_days=7, run_retention_days=60)
    acme_run = old_run(acme, make_monitor(acme), 10)
    acme_gone = old_run(acme, make_monitor(acme), 61)
    globex_run = old_run(globex, make_monitor(globex), 61)
    purge()
    assert detail(acme_run) == (0, 0) and Run.all_tenants.filter(pk=acme_run.pk).exists()
    assert not Run.all_tenants.filter(pk=acme_gone.pk).exists()
    assert detail(globex_run) == (0, 0) and Run.all_tenants.filter(pk=globex_run.pk).exists()


def test_the_license_tier_caps_retention(acme, settings):
    settings.PERFMON_TIER_MAX_RETENTION_DAYS = {"community": 90}
    TenantSettings.objects.create(tenant=acme, run_retention_days=1000)
    assert policy_for(acme).run_days == 90 and policy_for(acme).series_days == 30
    capped = old_run(acme, make_monitor(acme), 91)
    purge()
    assert not Run.all_tenants.filter(pk=capped.pk).exists()


def test_series_never_outlive_their_run(acme):
    TenantSettings.objects.create(tenant=acme, series_retention_days=500, run_retention_days=100)
    assert policy_for(acme).series_days == 100


def test_old_resolved_alerts_go_and_open_ones_stay(acme):
    monitor = make_monitor(acme)
    now = timezone.now()
    old_resolved = Alert.objects.create(tenant=acme, monitor=monitor, kind="run_failed", state="resolved",
                                        title="old", opened_at=now - timedelta(days=500),
                                        resolved_at=now - timedelta(days=401))
    recent_resolved = Alert.objects.create(tenant=acme, monitor=monitor, kind="run_error", state="resolved",
                                           title="recent", opened_at=now - timedelta(days=500),
                                           resolved_at=now - timedelta(days=399))
    old_open = Alert.objects.create(tenant=acme, monitor=monitor, kind="run_failed", state="open",
                                    title="open", opened_at=now - timedelta(days=900))
    assert purge().alerts == 1
    assert set(Alert.objects.for_tenant(acme).values_list("pk", flat=True)) == {recent_resolved.pk, old_open.pk}
    assert not Alert.all_tenants.filter(pk=old_resolved.pk).exists()


def test_deletes_in_bounded_batches_and_resumes(acme, settings):
    settings.PERFMON_RETENTION_BATCH = 4
    monitor = make_monitor(acme)
    runs = [old_run(acme, monitor, 40, points=5, chunks=0) for _ in range(2)]  # 10 points
    with CaptureQueriesContext(connection) as queries:
        first = purge(max_batches=2)
    assert not first.complete and first.series == 8 and first.batches == 2
    deletes = [q["sql"] for q in queries if q["sql"].upper().startswith("DELETE")]
    assert len(deletes) == 2
    # Each statement names at most one batch of rows.
    assert all(sql.split(" IN (")[1].count(",") + 1 <= 4 for sql in deletes), deletes
    assert SeriesPoint.all_tenants.filter(run__in=runs).count() == 2
    second = purge(max_batches=10)
    assert second.complete and second.series == 2
    assert SeriesPoint.all_tenants.filter(run__in=runs).count() == 0


def test_queries_per_batch_are_bounded(acme, settings):
    settings.PERFMON_RETENTION_BATCH = 50
    monitor = make_monitor(acme)
    for _ in range(20):
        old_run(acme, monitor, 40, points=5, chunks=5)
    with CaptureQueriesContext(connection) as queries:
        outcome = purge()
    assert outcome.series == 100 and outcome.logs == 100
    # series: 2 full batches + 1 empty, logs the same; runs/alerts one empty batch each,
    # each batch a select and at most one delete (plus savepoints), and the per-tenant reads.
    assert len(queries) <= 40, [q["sql"] for q in queries]


def test_the_task_is_scheduled_with_a_stable_name(settings):
    from perfmon.operations.tasks import retention

    assert retention.name == "perfmon.runs.retention"
    entry = settings.CELERY_BEAT_SCHEDULE["perfmon-retention"]
    assert entry["task"] == "perfmon.runs.retention"
