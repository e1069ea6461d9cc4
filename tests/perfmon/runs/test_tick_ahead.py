"""Dispatching ahead: runs of idle monitors due within the window are created early and published at
their due time, exactly once; busy monitors are left for the tick at their due time."""

import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from perfmon.monitors.models import Monitor
from perfmon.monitors.schedule import next_run
from perfmon.runs.models import Run, RunStatus
from perfmon.runs.sweeper import sweep
from perfmon.runs.tick import dispatch_due
from runners.protocol import agent_queue
from tests.broker import purge, take_assignments
from tests.factories import make_agent, make_monitor

QUEUE = agent_queue("ahead-1")


@pytest.fixture(autouse=True)
def clean_queue():
    purge(QUEUE)
    yield
    purge(QUEUE)


def runs_of(monitor):
    return list(Run.objects.for_tenant(monitor.tenant).filter(monitor=monitor).order_by("created_at"))


@pytest.mark.django_db(transaction=True)
def test_an_idle_monitor_due_soon_is_created_ahead_and_published_at_its_due_time(acme):
    make_agent("ahead-1", tenant=acme, capacity=5)
    due = timezone.now() + timedelta(seconds=8)
    monitor = make_monitor(acme, schedule="* * * * *", next_run_at=due)

    report = dispatch_due(ahead_s=20)

    assert report.dispatched == 1
    (run,) = runs_of(monitor)
    assert (run.status, run.scheduled_for, run.created_at, run.agent_id) == (RunStatus.QUEUED, due, due, "ahead-1")
    monitor.refresh_from_db()
    assert monitor.next_run_at == next_run("* * * * *", "UTC", due)
    # Nothing is in the broker before the due time ...
    if timezone.now() < due - timedelta(seconds=1):
        assert take_assignments(QUEUE) == []
    # ... and the one message arrives at it.
    (message,) = take_assignments(QUEUE, wait=60)
    arrived = timezone.now()
    assert message["run_id"] == str(run.pk) and arrived >= due
    deadline = time.monotonic() + 30
    while Run.all_tenants.get(pk=run.pk).published_at is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert Run.all_tenants.get(pk=run.pk).published_at >= due
    # A second tick in the window finds nothing more to do for it.
    assert dispatch_due(ahead_s=20).dispatched == 0
    assert len(runs_of(monitor)) == 1 and take_assignments(QUEUE, wait=1) == []


def test_a_busy_monitor_is_left_for_the_tick_at_its_due_time(acme):
    make_agent("ahead-1", tenant=acme, capacity=5)
    now = timezone.now()
    monitor = make_monitor(acme, next_run_at=now - timedelta(seconds=1))
    dispatch_due(now=now)
    (first,) = runs_of(monitor)
    assert first.status == RunStatus.QUEUED  # still active
    due = now + timedelta(seconds=10)
    Monitor.objects.for_tenant(acme).update(next_run_at=due)

    assert dispatch_due(now=now, ahead_s=30).dispatched == 0
    monitor.refresh_from_db()
    assert monitor.next_run_at == due and runs_of(monitor) == [first]


def test_ticks_in_one_window_create_one_run_and_the_window_is_bounded(acme):
    make_agent("ahead-1", tenant=acme, capacity=5)
    now = timezone.now()
    soon = make_monitor(acme, next_run_at=now + timedelta(seconds=5))
    later = make_monitor(acme, next_run_at=now + timedelta(seconds=50))

    assert dispatch_due(now=now, ahead_s=20).dispatched == 1
    assert dispatch_due(now=now + timedelta(seconds=2), ahead_s=20).dispatched == 0
    assert len(runs_of(soon)) == 1 and runs_of(later) == []
    # Without a window (the default) nothing not yet due is touched.
    assert dispatch_due(now=now + timedelta(seconds=3)).dispatched == 0


def test_the_sweeper_publishes_a_run_made_ahead_only_once_it_is_overdue(acme):
    # Here the tick's after-commit publish never runs (the test's transaction is not committed):
    # as if the worker died before the due time.
    make_agent("ahead-1", tenant=acme, capacity=5)
    now = timezone.now()
    due = now + timedelta(seconds=20)
    monitor = make_monitor(acme, next_run_at=due)
    dispatch_due(now=now, ahead_s=30)
    (run,) = runs_of(monitor)
    assert run.published_at is None

    assert sweep(now=now + timedelta(seconds=settings.PERFMON_REPUBLISH_AFTER + 1)).republished == 0
    assert take_assignments(QUEUE) == []
    assert sweep(now=due + timedelta(seconds=settings.PERFMON_REPUBLISH_AFTER + 1)).republished == 1
    (message,) = take_assignments(QUEUE, wait=10)
    assert message["run_id"] == str(run.pk)
