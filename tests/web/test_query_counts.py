"""Pages render with a bounded number of queries, whatever the history holds (10,000 runs on a monitor)."""

from __future__ import annotations

import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from perfmon.fleet.models import AgentMetricSample
from perfmon.runs import series
from perfmon.runs.models import Run
from runners.records import RequestRecord
from tests.factories import make_agent, make_monitor
from tests.web.helpers import (
    SPLIT_PARTS,
    add_logs,
    add_part_logs,
    add_part_series,
    add_series,
    build_result,
    bulk_runs,
    make_breakdown_run,
    make_run,
    make_split_run,
    open_alert,
)

pytestmark = pytest.mark.django_db

HISTORY = 10_000


def _pages(monitor, run, agent):
    return [
        "/",
        reverse("web:monitor", args=[monitor.pk]),
        reverse("web:monitor", args=[monitor.pk]) + "?page=3",
        reverse("web:runs"),
        reverse("web:runs") + "?page=3",
        reverse("web:runs") + "?status=pass&tool=k6&agent=eu-1&location=eu-west&from=2020-01-01&q=o",
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
            if response.streaming:  # a download's queries run while it streams
                b"".join(response.streaming_content)
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


def test_split_run_pages_query_count_does_not_grow_with_its_series_logs_or_history(client, alice, acme):
    client.force_login(alice)
    monitor = make_monitor(acme, name="split", thresholds={"latencyMs": 300})
    for minutes in (90, 60, 30):
        make_run(monitor, minutes_ago=minutes)
    run = make_split_run(monitor, intervals=5)
    running = make_split_run(monitor, status="running", intervals=5)
    for part in (0, 1):
        add_part_logs(run, part, ["a\n", "b\n"])
        add_part_logs(running, part, ["a\n", "b\n"])
    live = reverse("web:run-live", args=[running.pk])
    urls = [
        reverse("web:run", args=[run.pk]),
        reverse("web:run", args=[running.pk]),
        reverse("web:run-live", args=[run.pk]),
        live,
        f"{live}?series_after=2&log_after=0:0,1:0&part_series_after=0:2,1:2",
    ]
    small = _measure(client, urls)

    bulk_runs(monitor, HISTORY)
    for split in (run, running):
        for part, (_agent, _location, _share, requests, latency) in enumerate(SPLIT_PARTS):
            add_part_series(split, part, 300, requests=requests, latency_ms=latency, start=split.started_at,
                            start_seq=5)
            add_part_logs(split, part, [f"line {i}\n" for i in range(500)], start_seq=2)
    series.store_merged(run)  # as concluding the run does, once every part has ended
    large = _measure(client, urls)

    for url in urls:
        assert large[url][0] == small[url][0], f"{url}: {small[url][0]} queries with little data, {large[url][0]} with a lot"


def test_run_page_and_downloads_query_count_does_not_grow_with_the_breakdown(client, alice, acme):
    client.force_login(alice)
    monitor = make_monitor(acme, name="breakdown", thresholds={"latencyMs": 300})
    for minutes in (90, 60, 30):
        make_run(monitor, minutes_ago=minutes)
    run = make_breakdown_run(monitor)  # three names, three causes, two checks
    urls = [
        reverse("web:run", args=[run.pk]),
        reverse("web:run-series-csv", args=[run.pk]),
        reverse("web:run-requests-csv", args=[run.pk]),
        reverse("web:run-live", args=[run.pk]),
    ]
    small = _measure(client, urls)

    # The most a breakdown holds: 300 names (the cap), each with 20 causes and its samples, 50 checks.
    start = run.metrics["started_at"]
    records = [
        RequestRecord(ts=start + (n * 25 + i) / 1000, latency_ms=5.0 + n + i, status=500 if i < 20 else 200,
                      name=f"GET /item/{n}", method="GET", error=f"cause {i}" if i < 20 else "")
        for n in range(300) for i in range(25)
    ]
    large = build_result(records, checks=[(f"check {c}", c % 3 != 0, 10) for c in range(50)], vus=[])
    assert len(large.requests) == 300 and sum(len(e.causes) for e in large.requests) == 6000
    data = large.to_dict()
    Run.all_tenants.filter(pk=run.pk).update(requests=data["requests"], checks=data["checks"],
                                             histogram=data["histogram"])
    add_series(run, 300, start_seq=10)
    grown = _measure(client, urls)

    for url in urls:
        assert grown[url][0] == small[url][0], f"{url}: {small[url][0]} queries with little data, {grown[url][0]} with a lot"
    page = client.get(urls[0]).content.decode()
    assert page.count('<tr class="pinned"') == 0 and "GET /item/299" in page
