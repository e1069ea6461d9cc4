"""The tenant's runs list (/runs/): every monitor's runs, filtered like a monitor's, paginated, tenant-scoped."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from perfmon.monitors.models import Monitor
from perfmon.runs.models import Run
from tests.factories import make_agent, make_monitor
from tests.web.helpers import make_run, make_split_run

pytestmark = pytest.mark.django_db

RUNS = reverse("web:runs")


@pytest.fixture
def as_alice(client, alice):
    client.force_login(alice)
    return client


def _runs(client, params=None) -> list:
    response = client.get(RUNS, params or {})
    assert response.status_code == 200
    return [run.pk for run in response.context["page"].object_list]


@pytest.fixture
def history(acme, globex):
    """Acme's runs of three monitors (a k6 and a JMeter one, a split run, one of a deleted monitor) and Globex's."""
    eu = make_agent("eu-1", tenant=acme, location="eu-west")
    us = make_agent("us-1", tenant=acme, location="us-east")
    checkout = make_monitor(acme, name="Checkout API", tool="k6")
    search = make_monitor(acme, name="Search", tool="jmeter")
    gone = make_monitor(acme, name="Gone", tool="k6")
    today = make_run(checkout, minutes_ago=5)
    week_ago = make_run(search, status="fail", minutes_ago=7 * 24 * 60)
    errored = make_run(checkout, status="error", minutes_ago=60)
    orphan = make_run(gone, minutes_ago=30)
    Run.all_tenants.filter(pk=today.pk).update(agent=eu)
    Run.all_tenants.filter(pk=week_ago.pk).update(agent=us)
    split = make_split_run(search)  # parts on eu-1 (eu-west-1) and us-1 (us-east-1), created now
    gone.delete()  # its run stays, without a monitor
    elsewhere_monitor = make_monitor(globex, name="Checkout API", tool="k6")
    elsewhere = make_run(elsewhere_monitor, minutes_ago=1)
    Run.all_tenants.filter(pk=elsewhere.pk).update(agent=make_agent("globex-1", tenant=globex, location="eu-west"))
    return {"today": today, "week_ago": week_ago, "errored": errored, "orphan": orphan, "split": split,
            "elsewhere": elsewhere}


def test_lists_every_monitors_runs_of_the_tenant_newest_first(as_alice, history):
    h = history
    assert _runs(as_alice) == [h["split"].pk, h["today"].pk, h["orphan"].pk, h["errored"].pk, h["week_ago"].pk]
    html = as_alice.get(RUNS).content.decode()
    assert str(h["elsewhere"].pk) not in html
    assert f'<a href="{reverse("web:monitor", args=[h["today"].monitor_id])}">Checkout API</a>' in html
    assert "deleted monitor" in html and '<td class="run-tool">jmeter</td>' in html
    assert 'id="nav-runs" class="active"' in html


def test_filters_by_status_tool_agent_location_dates_and_monitor_name(as_alice, history):
    h = history
    assert _runs(as_alice, {"status": "fail"}) == [h["week_ago"].pk]
    assert _runs(as_alice, {"tool": "jmeter"}) == [h["split"].pk, h["week_ago"].pk]
    assert _runs(as_alice, {"agent": "eu-1"}) == [h["split"].pk, h["today"].pk]  # a part of the split run ran there
    assert _runs(as_alice, {"location": "us-east"}) == [h["week_ago"].pk]
    assert _runs(as_alice, {"location": "us-east-1"}) == [h["split"].pk]
    assert _runs(as_alice, {"q": "checkout"}) == [h["today"].pk, h["errored"].pk]  # not Globex's "Checkout API"
    assert _runs(as_alice, {"q": "SEARCH", "status": "pass"}) == [h["split"].pk]
    now = timezone.localdate()
    assert _runs(as_alice, {"to": str(now - timedelta(days=3))}) == [h["week_ago"].pk]
    assert _runs(as_alice, {"from": str(now - timedelta(days=1)), "tool": "k6"}) == [
        h["today"].pk, h["orphan"].pk, h["errored"].pk]
    html = as_alice.get(RUNS, {"q": "no such monitor"}).content.decode()
    assert "No run matches these filters." in html and 'id="clear-filters"' in html


def test_another_tenants_agent_or_monitor_name_finds_none_of_its_runs(client, mallory, history):
    client.force_login(mallory)  # Globex
    assert _runs(client) == [history["elsewhere"].pk]
    assert _runs(client, {"agent": "eu-1"}) == [] and _runs(client, {"location": "us-east"}) == []
    assert _runs(client, {"q": "Search"}) == []
    # A Globex viewer never sees Acme's runs, whatever the filters.
    assert _runs(client, {"q": "checkout", "tool": "k6", "status": "pass"}) == [history["elsewhere"].pk]


@pytest.mark.parametrize(("params", "message"), [
    ({"status": "nope"}, "Unknown status “nope”: not filtered by it."),
    ({"tool": "wrk"}, "Unknown tool “wrk”: not filtered by it."),
    ({"from": "yesterday"}, "The from date “yesterday” is not a date (YYYY-MM-DD)"),
    ({"to": "9999-12-31"}, "The to date “9999-12-31” is out of range"),
    ({"from": "2026-05-02", "to": "2026-05-01"}, "The date range ends before it starts"),
])
def test_bad_values_are_named_and_ignored(as_alice, history, params, message):
    response = as_alice.get(RUNS, params)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert len(response.context["page"].object_list) == 5


def test_pages_keep_the_filters_and_odd_input_is_bounded(as_alice, acme):
    monitor = make_monitor(acme, name="Busy", tool="k6")
    Run.all_tenants.bulk_create([
        Run(tenant=acme, monitor=monitor, test=monitor.test, tool="k6", status="pass") for _ in range(60)])
    response = as_alice.get(RUNS, {"q": "bus", "tool": "k6"})
    assert response.context["page"].paginator.count == 60 and len(response.context["page"].object_list) == 25
    assert "?q=bus&amp;tool=k6&amp;page=2" in response.content.decode()
    assert len(as_alice.get(RUNS, {"q": "bus", "tool": "k6", "page": "3"}).context["page"].object_list) == 10
    for params in ({"q": "x" * 10_000, "agent": "y" * 10_000, "location": "\x00", "page": "junk"},
                   {"page": "99999999999999999999"}, {"from": "2026-13-45"}, {"status": ["pass", "fail"]}):
        assert as_alice.get(RUNS, params).status_code == 200


def test_a_viewer_may_look(client, acme, history):
    from tests.conftest import _person

    client.force_login(_person(acme, "vera", "viewer"))
    assert len(_runs(client)) == 5


def test_the_list_costs_the_same_queries_filtered_or_not_and_however_many_runs(as_alice, acme, history):
    def count(params):
        with CaptureQueriesContext(connection) as queries:
            assert as_alice.get(RUNS, params).status_code == 200
        return len(queries)

    everything = {"q": "e", "status": "pass", "tool": "k6", "agent": "eu-1", "location": "eu-west",
                  "from": "2020-01-01", "to": "2090-01-01"}
    before = count({})
    assert count(everything) == before
    checkout = Monitor.all_tenants.get(tenant=acme, name="Checkout API")
    for i in range(40):
        make_run(checkout, minutes_ago=i + 90)
    assert count({}) == before == count(everything) == count({"page": "2"})
