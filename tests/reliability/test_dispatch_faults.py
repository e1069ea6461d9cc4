"""Scheduled runs survive a control-plane worker SIGKILLed in mid-dispatch and a Redis restart.

500 monitors fall due at once. Real `celery beat` and a real control-plane
worker dispatch them through a Redis server of the test's own (append-only
file on, as docs/operations.md asks of production), so the test may kill and
restart it without touching anyone else's broker. The worker is SIGKILLed
just after it received the tick, then started again; Redis is stopped while
the runs are being published and started again. Promised, and counted: every
due monitor has exactly one run for its due time, and every run's message
reaches its agent's queue (the sweeper publishes what the outage kept from
the broker), so none is lost and none is run twice (a second message of a
run would be refused at claim; docs/agents.md).
"""

from __future__ import annotations

import os
import queue as queue_module
import shutil
import signal
import subprocess
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from kombu import Connection

from perfmon.monitors.models import Monitor
from perfmon.runs.models import Run, RunStatus
from runners.protocol import EXECUTE_RUN, agent_queue
from tests.conftest import require
from tests.factories import make_agent, make_monitor
from tests.integration.processes import Process, celery, process_env
from tests.test_stack import free_port

MONITORS = 500
SETTLE_S = 240


class RedisServer:
    """A redis-server of the test's own on a free port, its data in a directory of its own."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.directory = directory
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        binary = shutil.which("redis-server")
        argv = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.directory),
                "--appendonly", "yes", "--appendfsync", "always", "--save", ""]
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with Connection(self.url, connect_timeout=1) as conn:
                    conn.ensure_connection(max_retries=1)
                return
            except Exception:
                time.sleep(0.2)
        raise AssertionError("redis-server did not start")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)


def drain(url: str, queue: str) -> list[str]:
    """Every execute_run message in ``queue``: the run ids, one per message."""
    found = []
    with Connection(url) as conn:
        simple = conn.SimpleQueue(queue, no_ack=True)
        try:
            while True:
                try:
                    message = simple.get(timeout=1)
                except queue_module.Empty:
                    return found
                assert message.headers["task"] == EXECUTE_RUN
                args, _kwargs, _embed = message.decode()
                found.append(args[0]["run_id"])
        finally:
            simple.close()


def wait_until(what: str, condition, timeout: float, *processes: Process) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    logs = "\n".join(f"--- {p.name}\n{p.output()[-2000:]}" for p in processes)
    pytest.fail(f"{what} did not happen within {timeout:.0f}s\n{logs}")


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_due_runs_survive_a_killed_worker_and_a_redis_restart(tmp_path):
    from perfmon.tenants.services import create_tenant

    require(shutil.which("redis-server") is not None, "redis-server")
    redis = RedisServer(tmp_path)
    redis.start()
    acme = create_tenant(name="Acme", slug="acme")
    agent = make_agent("faults-1", tenant=acme, capacity=MONITORS)
    far = timezone.now() + timedelta(days=1)
    # Yearly: each monitor is due once while the test runs.
    monitors = [make_monitor(acme, schedule="0 0 1 1 *", next_run_at=far) for _ in range(MONITORS)]

    env = process_env(
        REDIS_URL=redis.url, CELERY_BROKER_URL=redis.url, PERFMON_TICK_INTERVAL="1", PERFMON_SWEEP_INTERVAL="4",
        PERFMON_REPUBLISH_AFTER="5", PERFMON_AGENT_OFFLINE_AFTER="3600",
    )
    worker_argv = celery("worker", "-Q", "perfmon", "--pool", "solo", "--loglevel", "INFO")
    workers = [Process("worker-1", worker_argv, env, tmp_path)]
    beat = Process("beat", celery("beat", "--loglevel", "INFO", "--schedule", str(tmp_path / "beat-schedule")),
                   env, tmp_path)
    due_runs = Run.objects.for_tenant(acme).filter(monitor__in=monitors)
    try:
        workers[0].wait_for_output("ready", timeout=90)
        beat.wait_for_output("beat: Starting", timeout=90)
        due = timezone.now() + timedelta(seconds=2)
        Monitor.objects.for_tenant(acme).filter(pk__in=[m.pk for m in monitors]).update(next_run_at=due)

        # SIGKILL the worker as soon as it has taken a tick that has due monitors to dispatch.
        wait_until("the tick starting on the due monitors", lambda: timezone.now() >= due, 30, *workers, beat)
        deadline = time.monotonic() + 1.5
        while not due_runs.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        os.killpg(workers[0].proc.pid, signal.SIGKILL)
        workers[0].proc.wait()
        killed_with = due_runs.count()
        workers.append(Process("worker-2", worker_argv, env, tmp_path))

        # Redis goes away while the new worker creates and publishes the runs, then comes back.
        wait_until("dispatch resuming", lambda: due_runs.count() > killed_with or due_runs.count() == MONITORS,
                   120, *workers, beat)
        redis.stop()
        stopped_with = due_runs.filter(published_at__isnull=False).count()
        time.sleep(3)
        redis.start()

        wait_until(
            "every due monitor having its run, every run published",
            lambda: due_runs.count() >= MONITORS and not due_runs.filter(published_at__isnull=True).exists(),
            SETTLE_S, *workers, beat,
        )
        time.sleep(2)  # a publish in flight lands
        published = Counter(drain(redis.url, agent_queue(agent.id)))
    finally:
        beat.stop()
        for worker in workers:
            worker.stop()
        redis.stop()

    print(f"\nworker killed with {killed_with} runs created; Redis stopped with {stopped_with} published")
    per_monitor = Counter(due_runs.values_list("monitor_id", flat=True))
    assert len(per_monitor) == MONITORS and set(per_monitor.values()) == {1}, "a due monitor lost or run twice"
    runs = {str(pk): status for pk, status in due_runs.values_list("pk", "status")}
    assert set(runs.values()) == {RunStatus.QUEUED}
    assert set(published) == set(runs), f"{len(set(runs) - set(published))} runs never reached the agent's queue"
    # A run published twice (the sweeper beside a publish the outage interrupted) is claimed once.
    print(f"messages: {sum(published.values())} for {len(runs)} runs")
