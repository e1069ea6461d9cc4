"""Pages render with a bounded number of queries, whatever the history holds (10,000 runs on a monitor)."""

from __future__ import annotations

import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from perfmon.fleet.models import AgentMetricSample
from tests.factories import make_agent, make_monitor
from tests.web.helpers import add_logs, add_series, bulk_runs, make_run, open_alert

pytestmark = pytest.mark.django_db

HISTORY = 10_000
SLOW_PAGE_S = 3.0  # generous for a 2-core CI machine; locally each page takes well under a second


def _pages(monitor, run, agent):
    return [
        "/",
        reverse("web:monitor", args=[monitor.pk]),
        reverse("web:monitor", args=[monitor.pk]) + "?page=3",
        reverse("web:run", args=[run.pk]),
        reverse("web:run-live", args=[run.pk]),
        reverse("web:alerts"),
        reverse("web:alerts") + "?state=all",
        reverse("web:agents"),
        reverse("web:agent", args=[agent.pk]),
    ]


def _measure(client, urls) -> dict[str, tuple[int, float]]:
    seen = {}
    for url in urls:
        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            response = client.get(url)
            elapsed = time.perf_counter() - started
        assert response.status_code == 200, url
        seen[url] = (len(queries), elapsed)
    return seen


def test_query_count_per_page_does_not_grow_with_history(client, alice, acme):
    client.force_login(alice)
    agent = make_agent("acme-k6", tenant=acme)
    monitors = [make_monitor(acme, name=f"monitor {i}", thresholds={"latencyMs": 300}) for i in range(3)]
    monitor = monitors[0]
    for m in monitors:
        for minutes in (90, 60, 30):
            make_run(m, minutes_ago=minutes)
        open_alert(m, title=f"{m.name} breached")
    run = make_run(monitor, minutes_ago=1, status="fail")
    add_series(run, 5)
    add_logs(run, ["a\n", "b\n"])
    urls = _pages(monitor, run, agent)
    small = _measure(client, urls)

    # Grow everything the pages read: a long history, more monitors with runs and alerts, samples.
    bulk_runs(monitor, HISTORY)
    for i in range(3, 12):
        extra = make_monitor(acme, name=f"monitor {i}")
        bulk_runs(extra, 30)
        open_alert(extra, title=f"{extra.name} breached")
    add_series(run, 300, start_seq=5)
    add_logs(run, [f"line {i}\n" for i in range(500)], start_seq=2)
    AgentMetricSample.all_tenants.bulk_create([
        AgentMetricSample(agent=agent, recorded_at=timezone.now(), cpu_percent=5.0, memory_percent=40.0,
                          load1=0.2, running_runs=0)
        for _ in range(1000)
    ])
    large = _measure(client, urls)

    for url in urls:
        assert large[url][0] == small[url][0], f"{url}: {small[url][0]} queries with little data, {large[url][0]} with a lot"
        assert large[url][1] < SLOW_PAGE_S, f"{url} took {large[url][1]:.2f}s with {HISTORY} runs"
