"""/metrics: the named series with values computed from rows, the token rule, a fixed number of queries."""

from __future__ import annotations

import os
import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from perfmon.runs.models import Run
from tests.conftest import require
from tests.factories import make_agent, make_monitor


@pytest.fixture(autouse=True)
def _uncached(settings):
    settings.PERFMON_METRICS_CACHE_SECONDS = 0
    settings.PERFMON_METRICS_TOKEN = ""
    settings.CELERY_BROKER_URL = "filesystem://"


def scrape(client, **headers) -> dict:
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def make_run(tenant, monitor, status, *, p95=None, seconds=None, created_ago=timedelta(0)):
    now = timezone.now()
    run = Run.objects.create(
        tenant=tenant, monitor=monitor, test=monitor.test, tool="k6", status=status,
        started_at=now - timedelta(seconds=seconds) if seconds is not None else None,
        completed_at=now if seconds is not None else None,
        metrics={"p95_ms": p95} if p95 is not None else {},
    )
    Run.all_tenants.filter(pk=run.pk).update(created_at=now - created_ago)
    return run


@pytest.mark.django_db
def test_series_have_the_values_of_the_rows(client, acme, globex):
    later = timezone.now() + timedelta(days=1)  # not due whatever minute boundary the test crosses
    checkout = make_monitor(acme, name="Checkout", next_run_at=later)
    search = make_monitor(globex, name="Search", next_run_at=timezone.now() - timedelta(seconds=90))
    make_run(acme, checkout, "pass", p95=120.0, seconds=4, created_ago=timedelta(hours=2))
    make_run(acme, checkout, "fail", p95=480.5, seconds=45, created_ago=timedelta(hours=1))
    make_run(acme, checkout, "error", seconds=700)  # newest, but errors carry no p95
    make_run(globex, search, "pass", p95=33.0, seconds=3000)
    queued = make_run(globex, make_monitor(globex, next_run_at=later), "queued")
    Run.all_tenants.filter(pk=queued.pk).update(created_at=timezone.now() - timedelta(seconds=40))
    make_agent("online-1", tenant=acme)
    make_agent("online-2")
    make_agent("offline-1", tenant=globex, online=False)

    s = scrape(client)
    assert s[("perfmon_runs_total", (("status", "pass"), ("tenant", "acme")))] == 1
    assert s[("perfmon_runs_total", (("status", "fail"), ("tenant", "acme")))] == 1
    assert s[("perfmon_runs_total", (("status", "error"), ("tenant", "acme")))] == 1
    assert s[("perfmon_runs_total", (("status", "pass"), ("tenant", "globex")))] == 1
    assert s[("perfmon_runs_total", (("status", "queued"), ("tenant", "globex")))] == 1
    # Durations 4, 45, 700 and 3000 s.
    assert s[("perfmon_run_duration_seconds_count", ())] == 4
    assert s[("perfmon_run_duration_seconds_sum", ())] == pytest.approx(3749, abs=0.01)
    assert s[("perfmon_run_duration_seconds_bucket", (("le", "5.0"),))] == 1
    assert s[("perfmon_run_duration_seconds_bucket", (("le", "60.0"),))] == 2
    assert s[("perfmon_run_duration_seconds_bucket", (("le", "1200.0"),))] == 3
    assert s[("perfmon_run_duration_seconds_bucket", (("le", "+Inf"),))] == 4
    # The latest judged run of each monitor; monitors without one have no sample.
    assert s[("perfmon_monitor_last_p95_ms", (("monitor", "Checkout"), ("monitor_id", str(checkout.pk)),
                                              ("tenant", "acme")))] == 480.5
    assert s[("perfmon_monitor_last_p95_ms", (("monitor", "Search"), ("monitor_id", str(search.pk)),
                                              ("tenant", "globex")))] == 33.0
    assert len([k for k in s if k[0] == "perfmon_monitor_last_p95_ms"]) == 2
    assert s[("perfmon_agents_online", ())] == 2
    assert s[("perfmon_agents", ())] == 3
    assert s[("perfmon_dispatch_lag_seconds", ())] == pytest.approx(90, abs=5)
    assert s[("perfmon_monitors_due", ())] == 1
    assert s[("perfmon_runs_queued", ())] == 1
    assert s[("perfmon_oldest_queued_run_seconds", ())] == pytest.approx(40, abs=5)
    assert not [k for k in s if k[0] == "perfmon_queue_depth"]  # not a Redis broker


@pytest.mark.django_db
def test_no_lag_when_nothing_is_due(client, acme):
    make_monitor(acme, next_run_at=timezone.now() + timedelta(minutes=5))
    s = scrape(client)
    assert s[("perfmon_dispatch_lag_seconds", ())] == 0
    assert s[("perfmon_oldest_queued_run_seconds", ())] == 0


@pytest.mark.django_db
def test_query_count_does_not_grow_with_rows(client, acme):
    make_monitor(acme)
    with CaptureQueriesContext(connection) as few:
        scrape(client)
    for i in range(10):
        monitor = make_monitor(acme)
        make_run(acme, monitor, "pass", p95=float(i), seconds=i)
        make_agent(f"agent-{i}", tenant=acme)
    with CaptureQueriesContext(connection) as many:
        scrape(client)
    assert len(many) == len(few) <= 9


@pytest.mark.django_db
def test_token_is_required_when_configured(client, settings, acme):
    settings.PERFMON_METRICS_TOKEN = "s3cret-token"
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    denied = client.get("/metrics", headers={"Authorization": "Basic s3cret-token"})
    assert denied.status_code == 401 and denied["WWW-Authenticate"].startswith("Bearer")
    assert ("perfmon_agents", ()) in scrape(client, Authorization="Bearer s3cret-token")


@pytest.mark.django_db
def test_open_without_a_token(client, acme):
    assert client.get("/metrics").status_code == 200


@pytest.mark.django_db
def test_scrapes_are_shared_through_the_cache(client, settings, acme):
    settings.PERFMON_METRICS_CACHE_SECONDS = 60
    from django.core.cache import cache

    from perfmon.operations.views import CACHE_KEY

    cache.delete(CACHE_KEY)
    assert scrape(client)[("perfmon_agents", ())] == 0
    make_agent("late-1", tenant=acme)
    assert scrape(client)[("perfmon_agents", ())] == 0  # the cached scrape
    cache.delete(CACHE_KEY)
    assert scrape(client)[("perfmon_agents", ())] == 1


@pytest.mark.django_db
def test_queue_depths_are_read_from_redis(client, settings, acme):
    url = os.environ.get("REDIS_URL", "")
    require(bool(url), "Redis (REDIS_URL)")
    import redis

    agent_id = f"depth-{uuid.uuid4().hex[:8]}"
    make_agent(agent_id, tenant=acme)
    settings.CELERY_BROKER_URL = url
    queue = f"agent.{agent_id}"
    r = redis.Redis.from_url(url)
    try:
        r.rpush(queue, "m1", "m2", "m3")
        r.rpush(f"{queue}\x06\x169", "urgent")
        s = scrape(client)
        assert s[("perfmon_queue_depth", (("queue", queue),))] == 4
        assert ("perfmon_queue_depth", (("queue", "perfmon"),)) in s
    finally:
        r.delete(queue, f"{queue}\x06\x169")


@pytest.mark.django_db
def test_the_grafana_dashboard_queries_only_exposed_series(client, acme):
    import json
    import re
    from pathlib import Path

    monitor = make_monitor(acme)
    make_run(acme, monitor, "pass", p95=1.0, seconds=1)
    exposed = {name for name, _ in scrape(client)} | {"perfmon_queue_depth"}  # Redis only
    dashboard = json.loads((Path(__file__).resolve().parents[3] / "docs" / "grafana-dashboard.json").read_text())
    queried = {name for panel in dashboard["panels"] for target in panel["targets"]
               for name in re.findall(r"perfmon_[a-z0-9_]+", target["expr"])}
    assert queried and queried <= exposed, queried - exposed
