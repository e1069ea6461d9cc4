"""Real `celery beat` and a control-plane worker over the real broker: scheduled
monitors produce their runs on time, on their agent's queue."""

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from perfmon.monitors.models import Monitor
from perfmon.runs.models import Run, RunStatus, RunTrigger
from runners.protocol import agent_queue
from tests.broker import purge, take_assignments
from tests.factories import make_agent, make_monitor
from tests.integration.processes import Process, celery, process_env

TICK_S = 1.0


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_beat_and_worker_dispatch_scheduled_monitors_on_time(tmp_path):
    from perfmon.tenants.services import create_tenant

    acme = create_tenant(name="Acme", slug="acme")
    make_agent("sched-1", tenant=acme, capacity=5)
    purge(agent_queue("sched-1"))
    far = timezone.now() + timedelta(days=1)
    # A yearly schedule: once dispatched, a monitor is not due again while the test runs.
    monitors = [make_monitor(acme, schedule="0 0 1 1 *", next_run_at=far) for _ in range(2)]

    env = process_env(PERFMON_TICK_INTERVAL=str(TICK_S), PERFMON_AGENT_OFFLINE_AFTER="600")
    worker = Process("worker", celery("worker", "-Q", "perfmon", "--pool", "solo", "--loglevel", "INFO"), env, tmp_path)
    beat = Process(
        "beat", celery("beat", "--loglevel", "INFO", "--schedule", str(tmp_path / "beat-schedule")), env, tmp_path
    )
    try:
        worker.wait_for_output("ready", timeout=60)
        beat.wait_for_output("beat: Starting", timeout=60)
        start = timezone.now()
        due = [start + timedelta(seconds=3), start + timedelta(seconds=5)]
        for monitor, due_at in zip(monitors, due, strict=True):
            Monitor.objects.for_tenant(acme).filter(pk=monitor.pk).update(next_run_at=due_at)

        deadline = start + timedelta(seconds=40)
        dispatched = Run.objects.for_tenant(acme).exclude(status=RunStatus.SKIPPED)
        while timezone.now() < deadline and dispatched.count() < 2:
            time.sleep(0.25)
        runs = {run.monitor_id: run for run in dispatched}
        assert len(runs) == 2, f"beat:\n{beat.output()[-2000:]}\nworker:\n{worker.output()[-2000:]}"
        for monitor, due_at in zip(monitors, due, strict=True):
            run = runs[monitor.pk]
            assert (run.status, run.trigger, run.agent_id) == (RunStatus.QUEUED, RunTrigger.SCHEDULE, "sched-1")
            assert run.scheduled_for == due_at
            lag = (run.created_at - due_at).total_seconds()
            assert 0 <= lag < 3 * TICK_S + 2, f"run created {lag:.1f}s after its due time"
            monitor.refresh_from_db()
            assert monitor.next_run_at > due_at and monitor.next_run_at.second == 0
        # Runs prepared ahead are published at their due times: collect until both arrived, each
        # no earlier than its due time.
        published, until = [], time.monotonic() + 30
        while len(published) < 2 and time.monotonic() < until:
            for assignment in take_assignments(agent_queue("sched-1"), wait=1):
                published.append(assignment)
                due_at = next(run.scheduled_for for run in runs.values() if str(run.pk) == assignment["run_id"])
                assert timezone.now() >= due_at, "published before its due time"
        assert sorted(a["run_id"] for a in published) == sorted(str(run.pk) for run in runs.values())
    finally:
        beat.stop()
        worker.stop()
