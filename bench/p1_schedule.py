"""P1 scheduling: `* * * * *` monitors through real `celery beat` + a control-plane worker, due minute to broker.

    DATABASE_URL=… REDIS_URL=… .venv/bin/python bench/p1_schedule.py [--quick]

Creates a throwaway tenant with 10 agents and 10,000 monitors on `* * * * *`
(--quick: 300, due a few seconds ahead instead of on a minute), starts beat
and a worker as `make up` does (scripts/stack.py), and stamps each message's
arrival in Redis: a thread pops the agents' queues (RPOP with a count, every
few milliseconds), so a stamp is at most a poll late. The lag of a run is its
arrival minus its due time (``scheduled_for``), over two consecutive due
minutes; between them the runs are ended, as agents would, so the second
minute dispatches rather than skips. Missed: a monitor and due minute with no
message; duplicates: more than one message or run for one.

The baseline, in the same run afterwards: stock django-celery-beat with as many
PeriodicTasks (crontab `* * * * *`; --quick: one clocked time a few seconds
ahead) of a trivial task on its own queue, its own beat process
(bench/p1_baseline_app.py), measured the same way over one due minute.
Everything created is deleted with queryset deletes and raw SQL (no audit
rows), and every queue used is deleted from Redis.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ROOT, machine, percentile, script_main, setup_django  # noqa: E402

BIN = Path(sys.executable).parent
AGENTS = 10


class Stamper(threading.Thread):
    """Pops messages off Redis lists as they arrive and stamps each with its arrival time."""

    def __init__(self, client, keys: list[str]) -> None:
        super().__init__(daemon=True)
        self.client, self.keys, self.found, self.stop = client, keys, [], threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            got = False
            for key in self.keys:
                items = self.client.rpop(key, 2000)
                if items:
                    stamp = time.time()
                    self.found.extend((stamp, item) for item in items)
                    got = True
            if not got:
                time.sleep(0.003)


def task_args(raw: bytes) -> list:
    message = json.loads(raw)
    body = json.loads(base64.b64decode(message["body"]))
    return body[0]


def start(name: str, argv: list[str], env: dict, log_dir: Path, cwd: Path = ROOT) -> subprocess.Popen:
    log = (log_dir / f"{name}.log").open("wb")
    return subprocess.Popen(argv, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def wait_for(path: Path, text: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text(errors="replace"):
            return
        time.sleep(0.2)
    raise TimeoutError(f"{path.name} did not print {text!r}:\n{path.read_text(errors='replace')[-2000:]}")


def stop(proc: subprocess.Popen) -> None:
    import signal

    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def sleep_until(moment: datetime) -> None:
    while (left := (moment - datetime.now(UTC)).total_seconds()) > 0:
        time.sleep(min(left, 1.0))


def next_minute(after: datetime, margin_s: float) -> datetime:
    minute = after.replace(second=0, microsecond=0) + timedelta(minutes=1)
    return minute if (minute - after).total_seconds() >= margin_s else minute + timedelta(minutes=1)


def lag_figures(lags: list[float]) -> dict:
    if not lags:
        return {"p50_s": None, "p99_s": None, "max_s": None}
    return {"p50_s": round(percentile(lags, 50), 3), "p99_s": round(percentile(lags, 99), 3),
            "max_s": round(max(lags), 3)}


def run(quick: bool) -> dict:
    setup_django()
    import redis
    from django.conf import settings
    from django.db import connection
    from django.utils import timezone

    from perfmon.definitions.models import TestDefinition
    from perfmon.fleet.models import Agent
    from perfmon.monitors.models import Monitor
    from perfmon.runs.models import Run, RunStatus
    from perfmon.tenants.models import Tenant
    from runners.protocol import agent_queue

    count = 300 if quick else 10_000
    tick_s = 1.0 if quick else float(settings.PERFMON_TICK_INTERVAL)
    slug = f"bench-p1-{int(time.time())}"
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    tenant = Tenant.objects.create(name=slug, slug=slug)
    agent_ids = [f"{slug}-{i}" for i in range(AGENTS)]
    queues = [agent_queue(agent_id) for agent_id in agent_ids]
    baseline_queue = f"{slug}-baseline"
    log_dir = Path(tempfile.mkdtemp(prefix="p1-"))
    env = {**os.environ, "PERFMON_AGENT_OFFLINE_AFTER": "36000", "PERFMON_TICK_INTERVAL": str(tick_s),
           "PERFMON_REPUBLISH_AFTER": "60", "PYTHONUNBUFFERED": "1"}
    result: dict = {"monitors": count, "agents": AGENTS, "tick_interval_s": tick_s}
    procs: list[subprocess.Popen] = []
    try:
        for agent_id in agent_ids:
            Agent.all_tenants.create(id=agent_id, tenant=tenant, tools={"k6": "1"}, capacity=10 * count,
                                     last_heartbeat_at=timezone.now() + timedelta(hours=1))
        tests = TestDefinition.all_tenants.bulk_create(
            TestDefinition(tenant=tenant, name=f"t{i}", tool="k6", script="x") for i in range(count))
        far = timezone.now() + timedelta(days=1)
        Monitor.all_tenants.bulk_create(
            Monitor(tenant=tenant, name=f"m{i}", test=test, schedule="* * * * *", next_run_at=far)
            for i, test in enumerate(tests))

        stamper = Stamper(client, queues)
        stamper.start()
        worker = start("worker", [str(BIN / "celery"), "-A", "perfmon", "worker", "-Q", "perfmon", "--pool",
                                  "threads", "--concurrency", "4", "--loglevel", "INFO", "--hostname",
                                  f"{slug}@%h", "--without-gossip", "--without-mingle", "--without-heartbeat"],
                       env, log_dir)
        beat = start("beat", [str(BIN / "celery"), "-A", "perfmon", "beat", "--loglevel", "INFO", "--schedule",
                              str(log_dir / "beat-schedule")], env, log_dir)
        procs += [worker, beat]
        wait_for(log_dir / "worker.log", "ready", 90)
        wait_for(log_dir / "beat.log", "beat: Starting", 90)

        now = timezone.now()
        if quick:
            dues = [now + timedelta(seconds=4)]
        else:
            first = next_minute(now, 20)
            dues = [first, first + timedelta(minutes=1)]
        Monitor.all_tenants.filter(tenant=tenant).update(next_run_at=dues[0])
        for index, due in enumerate(dues):
            settle = due + timedelta(seconds=8 if quick else 30)
            deadline = time.monotonic() + (settle - timezone.now()).total_seconds()
            while time.monotonic() < deadline and len(stamper.found) < count * (index + 1):
                time.sleep(0.2)
            time.sleep(1.0 if quick else 3.0)  # late duplicates
            # The agents' part: the runs end, so the next minute dispatches instead of skipping.
            with connection.cursor() as cursor:
                cursor.execute("UPDATE runs_run SET status = 'pass', completed_at = now() "
                               "WHERE tenant_id = %s AND status IN ('queued', 'running')", [tenant.pk])
        stop(beat)
        stop(worker)
        stamper.stop.set()
        stamper.join()

        arrivals: dict = {}
        for stamp, raw in stamper.found:
            arrivals.setdefault(task_args(raw)[0]["run_id"], []).append(stamp)
        runs = list(Run.all_tenants.filter(tenant=tenant).values_list(
            "pk", "monitor_id", "scheduled_for", "status", "published_at", "created_at"))
        lags, published_lags, per_due, ticks = [], [], {}, []
        for run_id, monitor_id, scheduled_for, status, published_at, created_at in runs:
            if status == RunStatus.SKIPPED:
                continue
            per_due.setdefault((monitor_id, scheduled_for), []).append(run_id)
            stamps = arrivals.get(str(run_id), [])
            if stamps:
                lags.append(min(stamps) - scheduled_for.timestamp())
            if published_at:
                published_lags.append((published_at - scheduled_for).total_seconds())
            ticks.append((created_at - scheduled_for).total_seconds())
        expected = {(m, d) for m in Monitor.all_tenants.filter(tenant=tenant).values_list("pk", flat=True)
                    for d in dues}
        delivered = {(m, d) for (m, d), ids in per_due.items() if any(str(i) in arrivals for i in ids)}
        duplicates = sum(len(ids) - 1 for ids in per_due.values()) + sum(
            len(stamps) - 1 for stamps in arrivals.values())
        result.update(lag_figures(lags))
        result.update({
            "due_minutes": len(dues), "messages": len(stamper.found),
            "missed": len(expected - delivered), "duplicates": duplicates,
            "published_at_p99_s": lag_figures(published_lags)["p99_s"],
            "run_created_p99_s": lag_figures(ticks)["p99_s"],
        })

        # --- the baseline: stock django-celery-beat, one PeriodicTask per job -------------------
        result.update(baseline(count, quick, slug, baseline_queue, client, env, log_dir))
    finally:
        for proc in procs:
            stop(proc)
        cleanup(tenant, slug, [*queues, baseline_queue], client)
    result["machine_load_1m"] = machine()["load_average_1m"]
    return result


def baseline(count: int, quick: bool, slug: str, queue: str, client, env: dict, log_dir: Path) -> dict:
    from django.utils import timezone
    from django_celery_beat.models import ClockedSchedule, CrontabSchedule, PeriodicTask

    now = timezone.now()
    due = now + timedelta(seconds=12) if quick else next_minute(now, 25)
    if quick:
        clocked = ClockedSchedule.objects.create(clocked_time=due)
        schedule = {"clocked": clocked, "one_off": True}
    else:
        crontab = CrontabSchedule.objects.create(minute="*", hour="*", day_of_week="*", day_of_month="*",
                                                 month_of_year="*", timezone="UTC")
        schedule = {"crontab": crontab}
    PeriodicTask.objects.bulk_create(
        PeriodicTask(name=f"{slug}-{i}", task="bench.p1.noop", queue=queue, args=json.dumps([i]), **schedule)
        for i in range(count))
    stamper = Stamper(client, [queue])
    stamper.start()
    beat = start("baseline-beat", [str(BIN / "celery"), "-A", "p1_baseline_app", "beat", "--loglevel", "INFO",
                                   "--scheduler", "p1_baseline_app:BenchScheduler", "--schedule",
                                   str(log_dir / "baseline-schedule")],
                 {**env, "P1_BASELINE_PREFIX": f"{slug}-", "PYTHONPATH": str(ROOT)}, log_dir, cwd=ROOT / "bench")
    try:
        window = due + timedelta(seconds=8 if quick else 60)
        while timezone.now() < window and len(stamper.found) < count:
            time.sleep(0.2)
    finally:
        stop(beat)
        stamper.stop.set()
        stamper.join()
        PeriodicTask.objects.filter(name__startswith=f"{slug}-").delete()
        (clocked if quick else crontab).delete()
    lags = [stamp - due.timestamp() for stamp, _ in stamper.found]
    in_minute = sum(1 for lag in lags if lag < 60)
    figures = lag_figures(lags)
    return {
        "baseline_jobs": count, "baseline_published": len(lags),
        "baseline_published_in_minute": in_minute,
        "baseline_p50_s": figures["p50_s"],
        # Over the messages that arrived at all; None of them late is not the same as all of them on time.
        "baseline_p99_s": figures["p99_s"] if len(lags) >= count * 0.99 else None,
        "baseline_p99_published_s": figures["p99_s"],
    }


def cleanup(tenant, slug: str, queues: list[str], client) -> None:
    """Delete what this run created: raw SQL on its own rows (no audit rows), its queues in Redis."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM runs_runpart WHERE run_id IN (SELECT id FROM runs_run WHERE tenant_id = %s)",
                       [tenant.pk])
        cursor.execute("DELETE FROM runs_run WHERE tenant_id = %s", [tenant.pk])
        cursor.execute("DELETE FROM monitors_monitor WHERE tenant_id = %s", [tenant.pk])
        cursor.execute("DELETE FROM definitions_testdefinition WHERE tenant_id = %s", [tenant.pk])
        cursor.execute("DELETE FROM fleet_agent WHERE tenant_id = %s", [tenant.pk])
        cursor.execute("DELETE FROM django_celery_beat_periodictask WHERE name LIKE %s", [f"{slug}-%"])
    try:
        tenant.delete()
    except Exception as exc:  # rows another app made for the tenant: leave them, say so
        print(f"[p1] tenant {slug} kept: {exc}", file=sys.stderr)
    for queue in queues:
        client.delete(queue, *[f"{queue}\x06\x16{p}" for p in range(1, 10)])
        # kombu's binding sets: one per exchange (older kombu) and its permanent bindings (kombu 5.7)
        client.delete(f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}")
        client.zrem("_kombu.binding_deadlines", queue)


if __name__ == "__main__":
    script_main(run, __doc__)
