"""The monitors list's and a monitor's run list's filters: GET parameters, bad values shown, never a 500."""

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


@pytest.fixture
def as_alice(client, alice):
    client.force_login(alice)
    return client


def _names(client, params) -> list[str]:
    response = client.get("/", params)
    assert response.status_code == 200
    return [row["monitor"].name for row in response.context["rows"]]


def _runs(client, monitor, params) -> list:
    response = client.get(reverse("web:monitor", args=[monitor.pk]), params)
    assert response.status_code == 200
    return [run.pk for run in response.context["page"].object_list]


@pytest.fixture
def fleet(acme, globex):
    eu = make_agent("eu-1", tenant=acme, location="eu-west")
    make_agent("us-1", tenant=acme, location="us-east")
    checkout = make_monitor(acme, name="Checkout API", tool="k6", location="us-east")
    search = make_monitor(acme, name="Search", tool="jmeter", agent=eu)
    login = make_monitor(acme, name="Login page", tool="locust")
    Monitor.all_tenants.filter(pk=checkout.pk).update(last_status="pass")
    Monitor.all_tenants.filter(pk=search.pk).update(last_status="fail")
    make_monitor(globex, name="Checkout elsewhere", tool="k6")
    return checkout, search, login


def test_monitors_filter_by_status_tool_location_agent_and_name(as_alice, fleet):
    assert _names(as_alice, {}) == ["Checkout API", "Login page", "Search"]
    assert _names(as_alice, {"status": "fail"}) == ["Search"]
    assert _names(as_alice, {"status": "never"}) == ["Login page"]
    assert _names(as_alice, {"tool": "k6"}) == ["Checkout API"]  # not the other tenant's
    assert _names(as_alice, {"location": "eu-west"}) == ["Search"]  # through its pinned agent
    assert _names(as_alice, {"location": "us-east"}) == ["Checkout API"]
    assert _names(as_alice, {"agent": "eu-1"}) == ["Search"]
    assert _names(as_alice, {"q": "CHECK"}) == ["Checkout API"]
    assert _names(as_alice, {"q": "e", "tool": "locust"}) == ["Login page"]
    html = as_alice.get("/", {"q": "nothing like it"}).content.decode()
    assert 'id="no-matches"' in html and 'id="clear-filters"' in html


@pytest.mark.parametrize(("params", "message"), [
    ({"status": "bogus"}, "Unknown status “bogus”: not filtered by it."),
    ({"tool": "wrk"}, "Unknown tool “wrk”: not filtered by it."),
])
def test_monitors_bad_values_are_shown_and_ignored(as_alice, fleet, params, message):
    response = as_alice.get("/", params)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert len(response.context["rows"]) == 3


def test_monitors_filters_survive_pagination_and_long_input_is_bounded(as_alice, acme):
    for i in range(55):
        make_monitor(acme, name=f"api {i:02d}", tool="k6")
    make_monitor(acme, name="other", tool="jmeter")
    response = as_alice.get("/", {"tool": "k6", "q": "api"})
    assert response.context["page"].paginator.count == 55
    assert "?tool=k6&amp;q=api&amp;page=2" in response.content.decode()
    assert as_alice.get("/", {"q": "x" * 10_000, "agent": "y" * 10_000, "page": "junk"}).status_code == 200
    # PostgreSQL's text holds no NUL: one in a filter is dropped, not sent (which would be a 500).
    assert as_alice.get("/", {"q": "ap\x00i", "location": "\x00", "agent": "\x00"}).context["page"].paginator.count == 55


@pytest.fixture
def history(acme):
    eu = make_agent("eu-1", tenant=acme, location="eu-west")
    us = make_agent("us-1", tenant=acme, location="us-east")
    monitor = make_monitor(acme, name="Shop")
    today = make_run(monitor, minutes_ago=5)
    week_ago = make_run(monitor, status="fail", minutes_ago=7 * 24 * 60)
    errored = make_run(monitor, status="error", minutes_ago=60)
    Run.all_tenants.filter(pk=today.pk).update(agent=eu)
    Run.all_tenants.filter(pk=week_ago.pk).update(agent=us)
    split = make_split_run(monitor)  # parts on eu-1 (eu-west-1) and us-1 (us-east-1)
    return monitor, today, week_ago, errored, split


def test_runs_filter_by_status_agent_location_and_dates(as_alice, history):
    monitor, today, week_ago, errored, split = history
    assert _runs(as_alice, monitor, {"status": "fail"}) == [week_ago.pk]
    assert _runs(as_alice, monitor, {"status": "error"}) == [errored.pk]
    assert set(_runs(as_alice, monitor, {"agent": "eu-1"})) == {today.pk, split.pk}  # a part ran there
    assert _runs(as_alice, monitor, {"location": "us-east"}) == [week_ago.pk]
    assert _runs(as_alice, monitor, {"location": "us-east-1"}) == [split.pk]
    now = timezone.localdate()
    assert set(_runs(as_alice, monitor, {"from": str(now - timedelta(days=1))})) == {today.pk, errored.pk, split.pk}
    assert _runs(as_alice, monitor, {"to": str(now - timedelta(days=3))}) == [week_ago.pk]
    assert _runs(as_alice, monitor, {"from": str(now - timedelta(days=7)), "to": str(now - timedelta(days=7)),
                                     "status": "fail"}) == [week_ago.pk]
    html = as_alice.get(reverse("web:monitor", args=[monitor.pk]), {"status": "cancelled"}).content.decode()
    assert "No run matches these filters." in html


@pytest.mark.parametrize(("params", "message"), [
    ({"status": "nope"}, "Unknown status “nope”"),
    ({"from": "yesterday"}, "The from date “yesterday” is not a date (YYYY-MM-DD)"),
    ({"to": "9999-12-31"}, "The to date “9999-12-31” is out of range"),
    ({"from": "0001-01-01"}, "The from date “0001-01-01” is out of range"),
    ({"from": "2026-05-02", "to": "2026-05-01"}, "The date range ends before it starts"),
])
def test_runs_bad_values_are_shown_and_ignored(as_alice, history, params, message):
    monitor = history[0]
    response = as_alice.get(reverse("web:monitor", args=[monitor.pk]), params)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert len(response.context["page"].object_list) == 4


def test_filtered_lists_keep_their_query_counts(as_alice, acme, history):
    monitor = history[0]

    def count(url, params):
        with CaptureQueriesContext(connection) as queries:
            assert as_alice.get(url, params).status_code == 200
        return len(queries)

    everything = {"status": "pass", "agent": "eu-1", "location": "eu-west", "from": "2020-01-01", "to": "2090-01-01"}
    monitor_page = reverse("web:monitor", args=[monitor.pk])
    assert count(monitor_page, everything) == count(monitor_page, {})
    for i in range(30):
        make_run(monitor, minutes_ago=i + 10)
    assert count(monitor_page, everything) == count(monitor_page, {})
    listing = {"status": "never", "tool": "k6", "q": "sh"}  # "Shop", then the 20 more
    before = count("/", listing)
    for i in range(20):
        make_monitor(acme, name=f"Shop {i}")
    assert count("/", listing) == before == count("/", {})
    # The agent and location filters join or subquery inside the one list query.
    assert count("/", {**listing, "agent": "eu-1", "location": "eu-west"}) <= before
