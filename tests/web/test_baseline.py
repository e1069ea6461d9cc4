"""Pinning a run as its monitor's baseline from the run page, and what the run page then compares with."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from perfmon.monitors.models import Monitor
from tests.conftest import _person
from tests.factories import make_monitor
from tests.web.helpers import make_run
from tests.web.test_run_analysis import table

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop(acme):
    return make_monitor(acme, name="Shop")


def _baseline_column(client, run) -> dict[str, str]:
    html = client.get(reverse("web:run", args=[run.pk])).content.decode()
    return {row[0]: row[3] for row in table(html, "comparison")[1:]}


def _pin(client, monitor, run, **extra):
    return client.post(reverse("web:monitor-baseline", args=[monitor.pk]), {"run": str(run.pk), **extra})


def test_pinned_run_replaces_the_automatic_baseline_until_unpinned(client, alice, shop):
    client.force_login(alice)
    slow = make_run(shop, minutes_ago=40, p95=400.0)
    for minutes in (30, 20):
        make_run(shop, minutes_ago=minutes, p95=100.0)
    latest = make_run(shop, minutes_ago=1, p95=110.0)
    assert _baseline_column(client, latest)["p95"] == "100 ms +10.0 %"  # the median of 400, 100, 100

    page = client.get(reverse("web:run", args=[slow.pk])).content.decode()
    assert 'id="pin-baseline"' in page and 'id="unpin-baseline"' not in page
    response = _pin(client, shop, slow)
    assert response.status_code == 302 and response["Location"] == reverse("web:run", args=[slow.pk])
    assert Monitor.all_tenants.get(pk=shop.pk).baseline_run_id == slow.pk

    html = client.get(reverse("web:run", args=[latest.pk])).content.decode()
    assert f'pinned: <a href="{reverse("web:run", args=[slow.pk])}">{str(slow.pk)[:8]}</a>' in html
    assert _baseline_column(client, latest)["p95"] == "400 ms -72.5 %"
    # The pinned run's own page keeps the automatic baseline, and offers to unpin.
    page = client.get(reverse("web:run", args=[slow.pk])).content.decode()
    assert "this run is the monitor's pinned baseline" in page and 'id="unpin-baseline"' in page
    monitor_page = client.get(reverse("web:monitor", args=[shop.pk])).content.decode()
    assert f"pinned: run <a href=\"{reverse('web:run', args=[slow.pk])}\">" in monitor_page

    assert _pin(client, shop, slow, unpin="1").status_code == 302
    assert Monitor.all_tenants.get(pk=shop.pk).baseline_run_id is None
    assert _baseline_column(client, latest)["p95"] == "100 ms +10.0 %"


def test_members_pin_viewers_cannot(client, bob, acme, shop):
    run = make_run(shop)
    client.force_login(_person(acme, "victor", "viewer"))
    assert 'id="pin-baseline"' not in client.get(reverse("web:run", args=[run.pk])).content.decode()
    assert _pin(client, shop, run).status_code == 403
    assert Monitor.all_tenants.get(pk=shop.pk).baseline_run_id is None
    client.force_login(bob)
    assert _pin(client, shop, run).status_code == 302
    assert Monitor.all_tenants.get(pk=shop.pk).baseline_run_id == run.pk


def test_pin_needs_post_and_csrf(alice, shop):
    run = make_run(shop)
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    assert client.get(reverse("web:monitor-baseline", args=[shop.pk])).status_code == 405
    assert _pin(client, shop, run).status_code == 403
    assert Monitor.all_tenants.get(pk=shop.pk).baseline_run_id is None


def test_refused_pins_say_why_and_change_nothing(client, alice, shop, globex):
    client.force_login(alice)
    errored = make_run(shop, status="error")
    response = client.post(reverse("web:monitor-baseline", args=[shop.pk]), {"run": str(errored.pk)}, follow=True)
    assert "Only a passing or failing run can be the baseline." in response.content.decode()
    assert 'id="pin-baseline"' not in response.content.decode()  # an errored run offers no pin
    other = make_run(make_monitor(shop.tenant, name="Other"))
    response = client.post(reverse("web:monitor-baseline", args=[shop.pk]), {"run": str(other.pk)}, follow=True)
    assert "The run belongs to another monitor." in response.content.decode()
    response = client.post(reverse("web:monitor-baseline", args=[shop.pk]), {"run": "junk"}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("web:monitor", args=[shop.pk])
    assert Monitor.all_tenants.get(pk=shop.pk).baseline_run_id is None
    # Another tenant's monitor is not found.
    theirs = make_monitor(globex, name="Theirs")
    assert _pin(client, theirs, make_run(theirs)).status_code == 404
