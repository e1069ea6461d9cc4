"""The scheduler tick: due monitors get exactly one run each, on time, and no backlog replay."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from perfmon.monitors.models import Monitor
from perfmon.runs import tick
from perfmon.runs.models import Run, RunStatus, RunTrigger
from perfmon.runs.services import request_run
from perfmon.runs.tick import dispatch_due
from runners.protocol import agent_queue
from tests.broker import purge, take_assignments
from tests.factories import make_agent, make_monitor


@pytest.fixture(autouse=True)
def clean_queue():
    purge(agent_queue("acme-1"))


def just_after_a_fire_time():
    """One second after a fire time of '* * * * *': monitors due a second ago have missed nothing,
    whatever minute boundary the test itself crosses."""
    return timezone.now().replace(second=0, microsecond=0) + timedelta(seconds=1)


def runs_of(monitor):
    return list(Run.objects.for_tenant(monitor.tenant).filter(monitor=monitor).order_by("created_at"))


def test_due_monitor_gets_one_run_on_the_right_queue(acme, django_capture_on_commit_callbacks):
    make_agent("acme-1", tenant=acme, capacity=10)
    due = timezone.now().replace(second=0, microsecond=0)
    due = due.replace(minute=due.minute - due.minute % 5)
    now = due + timedelta(seconds=3)
    monitor = make_monitor(acme, schedule="*/5 * * * *", next_run_at=due)
    later = make_monitor(acme, next_run_at=due + timedelta(minutes=1))
    with django_capture_on_commit_callbacks(execute=True):
        report = dispatch_due(now=now)
        again = dispatch_due(now=now)  # a second tick at the same instant claims nothing
    assert (report.dispatched, report.missed, again.dispatched) == (1, 0, 0)
    [run] = runs_of(monitor)
    assert (run.status, run.trigger, run.agent_id) == (RunStatus.QUEUED, RunTrigger.SCHEDULE, "acme-1")
    assert run.scheduled_for == due
    monitor.refresh_from_db()
    assert monitor.next_run_at == due + timedelta(minutes=5) and runs_of(later) == []
    assert [a["run_id"] for a in take_assignments(agent_queue("acme-1"))] == [str(run.pk)]


def test_disabled_monitor_is_not_dispatched(acme):
    make_agent("acme-1", tenant=acme)
    now = just_after_a_fire_time()
    monitor = make_monitor(acme, next_run_at=now - timedelta(seconds=1))
    Monitor.objects.for_tenant(acme).update(enabled=False)
    assert dispatch_due(now=now).dispatched == 0 and runs_of(monitor) == []


def test_schedule_change_takes_effect_at_next_tick(acme):
    make_agent("acme-1", tenant=acme, capacity=5)
    now = timezone.now().replace(second=0, microsecond=0)
    monitor = make_monitor(acme, schedule="0 * * * *", next_run_at=now + timedelta(minutes=30))
    assert dispatch_due(now=now).dispatched == 0
    # What the monitor service does on PATCH: a new schedule gets a new next_run_at.
    from perfmon.monitors.schedule import next_run

    Monitor.objects.for_tenant(acme).update(schedule="* * * * *", next_run_at=next_run("* * * * *", "UTC", now))
    assert dispatch_due(now=now + timedelta(minutes=1)).dispatched == 1 and len(runs_of(monitor)) == 1


def test_tick_while_previous_run_active_records_a_skip(acme):
    make_agent("acme-1", tenant=acme, capacity=5)
    now = just_after_a_fire_time()
    monitor = make_monitor(acme, next_run_at=now - timedelta(seconds=1))
    dispatch_due(now=now)
    Monitor.objects.for_tenant(acme).update(next_run_at=now + timedelta(seconds=59))
    report = dispatch_due(now=now + timedelta(minutes=1))
    assert report.skipped == 1
    first, skipped = runs_of(monitor)
    assert first.status == RunStatus.QUEUED
    assert skipped.status == RunStatus.SKIPPED and "still queued or running" in skipped.status_reason


def test_outage_runs_overdue_monitor_once_and_records_missed(acme):
    make_agent("acme-1", tenant=acme, capacity=5)
    now = timezone.now().replace(second=0, microsecond=0)
    monitor = make_monitor(acme, schedule="* * * * *", next_run_at=now - timedelta(minutes=10))
    report = dispatch_due(now=now)
    assert (report.dispatched, report.missed) == (1, 10)
    runs = runs_of(monitor)
    assert sorted(run.status for run in runs) == [RunStatus.QUEUED, RunStatus.SKIPPED]
    [missed] = [run for run in runs if run.status == RunStatus.SKIPPED]
    assert "missed 10 scheduled run(s)" in missed.status_reason
    monitor.refresh_from_db()
    assert monitor.next_run_at == now + timedelta(minutes=1)


def test_no_agent_ends_the_run_in_error_and_the_schedule_still_advances(acme):
    now = just_after_a_fire_time()
    monitor = make_monitor(acme, next_run_at=now - timedelta(seconds=1))
    dispatch_due(now=now)
    [run] = runs_of(monitor)
    assert run.status == RunStatus.ERROR and run.error.startswith("no agent available")
    monitor.refresh_from_db()
    assert monitor.next_run_at > now


def test_a_manual_run_racing_the_tick_turns_its_scheduled_run_into_a_skip(acme, monkeypatch,
                                                                           django_capture_on_commit_callbacks):
    """A manual run stored between the tick's busy check and its insert: the batch still goes in,
    one by one, and only that monitor's scheduled run is stored skipped (not queued, not published)."""
    make_agent("acme-1", tenant=acme, capacity=10)
    now = just_after_a_fire_time()
    raced = make_monitor(acme, next_run_at=now - timedelta(seconds=1))
    calm = make_monitor(acme, next_run_at=now - timedelta(seconds=1))
    manual = []
    choose_for = tick.choose_for

    def manual_run_arrives_first(run, monitor, pool):
        if monitor.pk == raced.pk and not manual:
            # The real manual-run service, on the tick's connection: its row is in before the batch's.
            manual.append(request_run(tenant=acme, monitor=Monitor.objects.for_tenant(acme).get(pk=raced.pk)))
        choose_for(run, monitor, pool)

    monkeypatch.setattr(tick, "choose_for", manual_run_arrives_first)
    with django_capture_on_commit_callbacks(execute=True):
        report = dispatch_due(now=now)
    assert (report.dispatched, report.skipped) == (1, 1)
    first, skipped = runs_of(raced)
    assert (first.pk, first.status, first.trigger) == (manual[0].pk, RunStatus.QUEUED, RunTrigger.MANUAL)
    assert (skipped.status, skipped.trigger, skipped.agent_id) == (RunStatus.SKIPPED, RunTrigger.SCHEDULE, None)
    assert skipped.status_reason == tick.BUSY and skipped.completed_at is not None
    [scheduled] = runs_of(calm)
    assert (scheduled.status, scheduled.agent_id) == (RunStatus.QUEUED, "acme-1")
    published = {a["run_id"] for a in take_assignments(agent_queue("acme-1"))}
    assert published == {str(first.pk), str(scheduled.pk)}
    for monitor in (raced, calm):
        monitor.refresh_from_db()
        assert monitor.next_run_at > now


@pytest.mark.parametrize(("schedule", "tz"), [
    ("0 0 30 2 *", "UTC"),  # February 30th: parses, never fires
    ("61 * * * *", "UTC"),  # out of range
    ("* * * * *", "Mars/Olympus"),  # no such time zone
])
def test_a_monitor_whose_stored_schedule_cannot_fire_is_parked_and_the_tick_goes_on(acme, schedule, tz):
    make_agent("acme-1", tenant=acme, capacity=10)
    now = just_after_a_fire_time()
    broken = make_monitor(acme, next_run_at=now - timedelta(seconds=1))
    healthy = make_monitor(acme, next_run_at=now - timedelta(seconds=1))
    # Stored before validation refused it: written around the service.
    Monitor.objects.for_tenant(acme).filter(pk=broken.pk).update(schedule=schedule, timezone=tz)
    report = dispatch_due(now=now)
    assert report.dispatched == 1 and len(report.errors) == 1 and report.errors[0].startswith(f"{broken.pk}: ")
    assert runs_of(broken) == [] and len(runs_of(healthy)) == 1
    broken.refresh_from_db()
    assert broken.next_run_at is None and broken.enabled  # parked, not disabled: fixing the schedule revives it
    later = dispatch_due(now=now + timedelta(minutes=5))
    assert later.errors == [] and runs_of(broken) == []


def test_batches_cover_every_due_monitor(acme):
    make_agent("acme-1", tenant=acme, capacity=100)
    now = just_after_a_fire_time()
    monitors = [make_monitor(acme, next_run_at=now - timedelta(seconds=1)) for _ in range(7)]
    assert dispatch_due(now=now, batch_size=3).dispatched == 7
    assert all(len(runs_of(m)) == 1 for m in monitors)


@pytest.mark.django_db(transaction=True)
def test_concurrent_ticks_never_dispatch_a_monitor_twice():
    if connection.vendor != "postgresql":
        pytest.skip("row locks (SKIP LOCKED) are a PostgreSQL feature; SQLite serialises writers")
    from perfmon.tenants.services import create_tenant

    tenant = create_tenant(name="Acme", slug="acme")
    make_agent("acme-1", tenant=tenant, capacity=1000)
    now = just_after_a_fire_time()
    monitors = [make_monitor(tenant, next_run_at=now - timedelta(seconds=1)) for _ in range(60)]
    barrier = threading.Barrier(4)
    reports = []

    def tick():
        barrier.wait()
        try:
            reports.append(dispatch_due(now=now, batch_size=7))
        finally:
            connection.close()

    threads = [threading.Thread(target=tick) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sum(report.dispatched for report in reports) == 60
    assert Run.all_tenants.count() == 60
    assert {run.monitor_id for run in Run.all_tenants.all()} == {m.pk for m in monitors}
