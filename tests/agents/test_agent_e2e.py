"""End to end: a live control plane (gunicorn on the test database), the real broker
(Redis on CI, the filesystem transport locally), real `perfmon-agent enroll` and
`perfmon-agent run` processes and real tools against a local target."""

from __future__ import annotations

import getpass
import os
import re
import time
import uuid
from collections import defaultdict

import psutil
import pytest

from perfmon.definitions.models import TestDefinition
from perfmon.fleet.models import Agent, AgentMetricSample
from perfmon.monitors.models import Monitor
from perfmon.runs.models import Run, RunLogChunk, RunStatus, SeriesPoint
from tests.agents.e2e import AgentProcess, LiveControlPlane, wait_for
from tests.conftest import require
from tests.factories import make_monitor
from tests.runners.conftest import require_tool
from tests.runners.target import Target

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]

ME = getpass.getuser()  # k6/locust tests run tools as the agent's own user (no run-as)

K6_SCRIPT = """
import http from 'k6/http';
import { sleep } from 'k6';
export const options = { vus: 2, duration: __ENV.DURATION };
export default function () {
  const res = http.get(`${__ENV.TARGET}/mixed`);
  console.log(`vu=${__VU} iter=${__ITER} status=${res.status}`);
  sleep(0.02);
}
"""

LOCUSTFILE = """
import os
from locust import HttpUser, constant, task

class Visitor(HttpUser):
    host = os.environ["TARGET"]
    wait_time = constant(0.02)

    @task
    def mixed(self):
        self.client.get("/mixed")
"""


@pytest.fixture(scope="module")
def log_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("e2e-logs")


@pytest.fixture(scope="module")
def plane(django_db_setup, log_dir):
    server = LiveControlPlane(log_dir).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def short_limit_plane(django_db_setup, log_dir):
    """A control plane giving every run a 3 s time limit."""
    server = LiveControlPlane(log_dir, PERFMON_RUN_TIME_LIMIT="3").start()
    yield server
    server.stop()


@pytest.fixture
def tenant(db):
    from perfmon.tenants.services import create_tenant

    return create_tenant(name="Acme", slug=f"acme-{uuid.uuid4().hex[:6]}")


@pytest.fixture
def agents(log_dir):
    started: list[AgentProcess] = []

    def make(plane, tenant, **kwargs) -> AgentProcess:
        agent = AgentProcess(plane, tenant, log_dir, **kwargs)
        started.append(agent)
        return agent

    yield make
    for agent in started:
        agent.cleanup()


@pytest.fixture
def target():
    with Target() as server:
        yield server


def dispatch(tenant, agent: AgentProcess, *, tool: str, script: str, parameters=None, thresholds=None) -> Run:
    from perfmon.runs.services import request_run

    monitor = make_monitor(tenant, tool=tool, enabled=False, agent=Agent.all_tenants.get(pk=agent.agent_id),
                           parameters=parameters or {}, thresholds=thresholds or {})
    TestDefinition.all_tenants.filter(pk=monitor.test_id).update(script=script)
    run = request_run(tenant=tenant, monitor=Monitor.all_tenants.get(pk=monitor.pk))
    assert run.status == RunStatus.QUEUED, run.error
    return run


def reload(run: Run) -> Run:
    return Run.all_tenants.get(pk=run.pk)


def wait_final(run: Run, timeout: float, agent: AgentProcess) -> Run:
    def final():
        fresh = reload(run)
        return fresh if fresh.is_final else None

    try:
        return wait_for(final, timeout, f"run {run.pk} to end")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\nagent log:\n{agent.output()[-4000:]}") from None


def log_text(run: Run) -> tuple[list[int], str]:
    chunks = list(RunLogChunk.all_tenants.filter(run_id=run.pk).order_by("seq").values_list("seq", "text"))
    return [seq for seq, _ in chunks], "".join(text for _, text in chunks)


def reported_counts(agent: AgentProcess, run: Run) -> tuple[int, int]:
    match = re.search(rf"run {run.pk} \(\w+\) ended: .*?; (\d+) series points, (\d+) log chunks", agent.output())
    assert match, agent.output()[-3000:]
    return int(match.group(1)), int(match.group(2))


def check_complete(run: Run, agent: AgentProcess, target: Target) -> None:
    """Everything the agent measured arrived exactly once and in order."""
    series = list(SeriesPoint.all_tenants.filter(run_id=run.pk).order_by("seq"))
    chunk_seqs, text = log_text(run)
    series_count, chunk_count = reported_counts(agent, run)
    assert [p.seq for p in series] == list(range(series_count))
    assert chunk_seqs == list(range(chunk_count))
    served = sum(target.counts().values())
    assert run.metrics["count"] == served == sum(p.count for p in series)
    assert "incomplete" not in run.metrics  # the report's counts match what was stored
    assert run.metrics["errors"] == sum(n for (_, status), n in target.counts().items() if status >= 500)
    assert text.startswith(f"[perfmon-agent] agent {agent.agent_id} starts ")


def test_k6_run_streams_while_it_runs_and_ends_judged_with_complete_logs(plane, tenant, agents, target):
    require_tool("k6")
    agent = agents(plane, tenant, run_as_user=ME).start()
    doctor = agent.cli("doctor")
    assert doctor.returncode == 0, doctor.stdout
    assert "[ ok ] agent credential accepted" in doctor.stdout

    run = dispatch(tenant, agent, tool="k6", script=K6_SCRIPT, parameters={"TARGET": target.base_url, "DURATION": "9s"},
                   thresholds={"latencyMs": 2000, "errorRatePercent": 50})
    points_while_running = 0

    def watch():
        nonlocal points_while_running
        fresh = reload(run)
        if fresh.status == RunStatus.RUNNING:
            points_while_running = max(points_while_running, SeriesPoint.all_tenants.filter(run_id=run.pk).count())
        return fresh if fresh.is_final else None

    run = wait_for(watch, 60, "the k6 run to end", interval=0.2)
    assert points_while_running >= 1, "no series point arrived while k6 ran"
    assert run.status == RunStatus.PASS, (run.error, agent.output()[-3000:])
    assert run.metrics["outcome"] == "completed" and run.metrics["exit_code"] == 0
    check_complete(run, agent, target)

    _, text = log_text(run)
    lines = re.findall(r'msg="vu=(\d+) iter=(\d+) status=(\d+)"', text)
    assert len(lines) == run.metrics["count"], "one console line per request, none lost"
    per_vu = defaultdict(list)
    for vu, iteration, _ in lines:
        per_vu[vu].append(int(iteration))
    assert set(per_vu) == {"1", "2"}
    for iterations in per_vu.values():
        assert iterations == list(range(len(iterations))), "each VU's lines arrive complete and in order"
    assert "[perfmon-agent] k6 exited with code 0" in text
    assert not list((agent.home / "data" / "work").iterdir()), "the work dir is removed"

    row = Agent.all_tenants.get(pk=agent.agent_id)  # what the heartbeats reported
    assert row.version and row.cpu_cores >= 1 and row.memory_gb > 0 and row.os == "linux"
    assert row.tools["k6"][0].isdigit() and row.capacity == 1
    assert set(row.last_metrics) >= {"cpu_percent", "memory_percent", "load1", "disk_free_gb"}
    busy = AgentMetricSample.all_tenants.filter(agent_id=agent.agent_id, running_runs=1)
    assert busy.exists(), "heartbeats during the run listed it as running"


def test_locust_run_breaching_a_threshold_ends_fail(plane, tenant, agents, target):
    require_tool("locust")
    agent = agents(plane, tenant, run_as_user=ME, tools=("locust",)).start()
    run = dispatch(tenant, agent, tool="locust", script=LOCUSTFILE,
                   parameters={"TARGET": target.base_url, "LOCUST_USERS": "2", "LOCUST_RUN_TIME": "4s"},
                   thresholds={"errorRatePercent": 1})
    run = wait_final(run, 60, agent)
    assert run.status == RunStatus.FAIL, (run.error, agent.output()[-3000:])
    assert [b["metric"] for b in run.breaches] == ["errorRatePercent"]
    check_complete(run, agent, target)


def test_cancellation_stops_the_tool_within_seconds(plane, tenant, agents, target):
    from perfmon.runs.services import cancel_run

    require_tool("k6")
    agent = agents(plane, tenant, run_as_user=ME).start()
    run = dispatch(tenant, agent, tool="k6", script=K6_SCRIPT, parameters={"TARGET": target.base_url, "DURATION": "60s"})
    wait_for(lambda: len(target.served()) > 20, 30, "k6 to send load")
    t0 = time.monotonic()
    cancel_run(tenant=tenant, run_id=run.pk, actor="alice")
    run = wait_final(run, 15, agent)
    elapsed = time.monotonic() - t0
    assert run.status == RunStatus.CANCELLED
    assert elapsed < 6, f"cancellation took {elapsed:.1f}s"
    served = len(target.served())
    time.sleep(1.0)
    assert len(target.served()) == served, "the tool stopped sending load"
    _, text = log_text(run)
    assert "[perfmon-agent] stopping k6: cancelled from the control plane" in text


def test_the_time_limit_kills_a_runaway_script(short_limit_plane, tenant, agents):
    agent = agents(short_limit_plane, tenant, tools=("custom",)).start()
    script = "#!/bin/sh\necho runaway-started\nwhile true; do sleep 1; done\n"
    run = dispatch(tenant, agent, tool="custom", script=script)
    run = wait_final(run, 30, agent)
    assert run.status == RunStatus.ERROR
    assert "time limit of 3s" in run.error
    _, text = log_text(run)
    assert "runaway-started" in text and "stopping custom: the run exceeded its time limit" in text
    assert (run.completed_at - run.started_at).total_seconds() < 15
    work = str(agent.home / "data" / "work")
    leftovers = [p.info["pid"] for p in psutil.process_iter(["pid", "cwd"]) if (p.info["cwd"] or "").startswith(work)]
    assert leftovers == [], "nothing of the runaway is left running"


def test_a_script_cannot_read_the_agents_credential(short_limit_plane, tenant, agents):
    require(os.geteuid() == 0, "root (the agent runs tools as another user)")
    canary = "canary-" + uuid.uuid4().hex  # a secret in the agent's own environment
    agent = agents(short_limit_plane, tenant, tools=("custom",)).start(PERFMON_TEST_CANARY=canary)
    agent_pid = agent.process.proc.pid
    script = f"""#!/bin/sh
echo "--- whoami"; id
echo "--- env"; env
echo "--- config"; cat {agent.config_path} 2>&1
echo "--- config dir"; ls -la {agent.config_path.parent} 2>&1
echo "--- spool"; ls {agent.config.spool_dir} 2>&1
echo "--- agent environ"; tr '\\0' '\\n' < /proc/{agent_pid}/environ 2>&1
echo "--- parent environ"; tr '\\0' '\\n' < /proc/$PPID/environ 2>&1
echo "--- done"
"""
    run = dispatch(tenant, agent, tool="custom", script=script)
    run = wait_final(run, 20, agent)
    _, text = log_text(run)
    assert "--- done" in text and "--- env" in text
    assert agent.credential not in text
    assert canary not in text
    assert str(agent.config_path) not in text.split("--- config")[0], "the config path is not in the env"
    assert text.count("Permission denied") >= 3, text
    assert "uid=65534(nobody)" in text


def test_a_run_for_a_tool_the_agent_lacks_fails_at_once_naming_tool_and_agent(short_limit_plane, tenant, agents):
    from perfmon.runs.services import publish_run

    agent = agents(short_limit_plane, tenant, tools=("custom",), enabled_tools=("custom", "gatling"),
                   tool_paths={"gatling": "/nonexistent/gatling"}).start()
    test = TestDefinition.all_tenants.create(tenant=tenant, name="sim", tool="gatling", script="class X", status="active")
    run = Run.all_tenants.create(tenant=tenant, test=test, tool="gatling", script="class X",
                                 agent=Agent.all_tenants.get(pk=agent.agent_id))
    t0 = time.monotonic()
    assert publish_run(run.pk)
    run = wait_final(run, 20, agent)
    assert run.status == RunStatus.ERROR
    assert "gatling" in run.error and agent.agent_id in run.error
    assert time.monotonic() - t0 < 10


def test_a_control_plane_outage_mid_run_loses_nothing(django_db_setup, log_dir, tenant, agents, target):
    require_tool("k6")
    plane = LiveControlPlane(log_dir).start()
    try:
        agent = agents(plane, tenant, run_as_user=ME).start()
        run = dispatch(tenant, agent, tool="k6", script=K6_SCRIPT,
                       parameters={"TARGET": target.base_url, "DURATION": "9s"},
                       thresholds={"latencyMs": 2000, "errorRatePercent": 50})
        wait_for(lambda: SeriesPoint.all_tenants.filter(run_id=run.pk).exists(), 30, "the first series point")
        plane.stop()
        down_at = time.monotonic()
        wait_for(lambda: f"run {run.pk} (k6) ended" in agent.output(), 30, "k6 to end during the outage")
        wait_for(lambda: "control plane unreachable" in agent.output(), 10, "the agent to notice the outage")
        assert reload(run).status == RunStatus.RUNNING, "nothing reached the control plane during the outage"
        time.sleep(max(0.0, 2 - (time.monotonic() - down_at)))
        plane.start()
        run = wait_final(run, 30, agent)
        assert run.status == RunStatus.PASS, (run.error, agent.output()[-3000:])
        check_complete(run, agent, target)
    finally:
        plane.stop()


def test_sigterm_reports_the_running_run_instead_of_leaving_it_running(plane, tenant, agents, target):
    require_tool("k6")
    agent = agents(plane, tenant, run_as_user=ME, shutdown_grace_s=1.0).start()
    run = dispatch(tenant, agent, tool="k6", script=K6_SCRIPT, parameters={"TARGET": target.base_url, "DURATION": "60s"})
    wait_for(lambda: len(target.served()) > 20, 30, "k6 to send load")
    t0 = time.monotonic()
    code = agent.stop()  # SIGTERM, as systemd and docker stop do
    assert code == 0, agent.output()[-3000:]
    assert time.monotonic() - t0 < 25
    run = reload(run)
    assert run.status == RunStatus.ERROR, run.status
    assert "was shut down during the run" in run.error
    assert run.metrics.get("count", 0) > 0, "what the tool measured before it stopped is kept"


def test_beat_worker_and_agent_run_a_scheduled_monitor_on_time(plane, tenant, agents, target, tmp_path):
    """The whole scheduled path on real processes: beat ticks, a control-plane worker
    dispatches, the agent runs k6, the run is judged."""
    from datetime import timedelta

    from django.utils import timezone

    from tests.integration.processes import Process, celery

    require_tool("k6")
    agent = agents(plane, tenant, run_as_user=ME).start()
    monitor = make_monitor(tenant, tool="k6", schedule="0 0 1 1 *", agent=Agent.all_tenants.get(pk=agent.agent_id),
                           parameters={"TARGET": target.base_url, "DURATION": "2s"},
                           thresholds={"latencyMs": 2000}, next_run_at=timezone.now() + timedelta(days=1))
    TestDefinition.all_tenants.filter(pk=monitor.test_id).update(script=K6_SCRIPT)
    env = {**plane.env, "PERFMON_TICK_INTERVAL": "1"}
    worker = Process("sched-worker", celery("worker", "-Q", "perfmon", "--pool", "solo", "-l", "INFO"), env, tmp_path)
    beat = Process("sched-beat", celery("beat", "-l", "INFO", "--schedule", str(tmp_path / "beat")), env, tmp_path)
    try:
        worker.wait_for_output("ready", timeout=60)
        beat.wait_for_output("beat: Starting", timeout=60)
        due = timezone.now() + timedelta(seconds=2)
        Monitor.all_tenants.filter(pk=monitor.pk).update(next_run_at=due)

        def judged():
            run = Run.all_tenants.filter(monitor_id=monitor.pk).first()
            return run if run is not None and run.is_final else None

        run = wait_for(judged, 60, "the scheduled run to be judged", interval=0.3)
        assert run.trigger == "schedule" and run.scheduled_for == due
        assert 0 <= (run.created_at - due).total_seconds() < 4, "dispatched within a few ticks of its due time"
        assert run.status == RunStatus.PASS, (run.error, agent.output()[-2000:])
        assert run.agent_id == agent.agent_id and run.metrics["count"] > 0
        assert Monitor.all_tenants.get(pk=monitor.pk).next_run_at > due
    finally:
        beat.stop()
        worker.stop()
