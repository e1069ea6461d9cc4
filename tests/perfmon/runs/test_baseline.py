"""set_baseline (perfmon.runs.services): pinning one of a monitor's judged runs as its baseline, and unpinning it."""

from __future__ import annotations

import pytest

from perfmon.core.errors import NotFound, ValidationFailed
from perfmon.monitors.models import Monitor
from perfmon.runs.models import Run
from perfmon.runs.services import set_baseline
from tests.factories import make_monitor
from tests.web.helpers import make_run

pytestmark = pytest.mark.django_db


def test_pin_and_unpin_a_judged_run(acme):
    monitor = make_monitor(acme, name="Shop")
    run = make_run(monitor, status="fail")
    before = Monitor.all_tenants.get(pk=monitor.pk).updated_at
    set_baseline(tenant=acme, monitor=monitor, run_id=str(run.pk))
    stored = Monitor.all_tenants.get(pk=monitor.pk)
    assert stored.baseline_run_id == run.pk and stored.updated_at > before
    set_baseline(tenant=acme, monitor=monitor, run_id=None)
    assert Monitor.all_tenants.get(pk=monitor.pk).baseline_run_id is None


def test_deleting_the_pinned_run_unpins_it(acme):
    monitor = make_monitor(acme, name="Shop")
    run = make_run(monitor)
    set_baseline(tenant=acme, monitor=monitor, run_id=run.pk)
    Run.all_tenants.filter(pk=run.pk).delete()
    assert Monitor.all_tenants.get(pk=monitor.pk).baseline_run_id is None


@pytest.mark.parametrize("status", ["error", "cancelled", "running", "skipped"])
def test_only_a_judged_run_can_be_pinned(acme, status):
    monitor = make_monitor(acme, name="Shop")
    run = make_run(monitor, status=status)
    with pytest.raises(ValidationFailed, match="passing or failing"):
        set_baseline(tenant=acme, monitor=monitor, run_id=run.pk)
    assert Monitor.all_tenants.get(pk=monitor.pk).baseline_run_id is None


def test_another_monitors_or_tenants_run_is_refused(acme, globex):
    monitor, other = make_monitor(acme, name="Shop"), make_monitor(acme, name="Other")
    with pytest.raises(ValidationFailed, match="another monitor"):
        set_baseline(tenant=acme, monitor=monitor, run_id=make_run(other).pk)
    theirs = make_run(make_monitor(globex, name="Theirs"))
    with pytest.raises(NotFound):
        set_baseline(tenant=acme, monitor=monitor, run_id=theirs.pk)
    with pytest.raises(NotFound):
        set_baseline(tenant=acme, monitor=monitor, run_id="not-a-run")
    assert Monitor.all_tenants.get(pk=monitor.pk).baseline_run_id is None
