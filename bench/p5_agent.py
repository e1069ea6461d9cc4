"""P5: the agent's overhead over bare k6: a 2-VU k6 run from trigger to stored result, against `k6 run` and Taurus.

    DATABASE_URL=… REDIS_URL=… .venv/bin/python bench/p5_agent.py [--quick]

Starts, all on 127.0.0.1 and free ports: the demo target (scripts/demo_target.py,
its own process), the control plane's web process as ``make up`` does
(gunicorn, 2 workers of 4 threads, its own control socket), and one real
agent enrolled with ``perfmon-agent enroll`` and running as ``perfmon-agent
run`` with its default settings, offering k6. The broker is the configured
Redis (``bench/run.py``: db 15). One k6 script (2 VUs, 5 s; --quick: 1 s, each
iteration one GET of the target and a 20 ms sleep; the target's URL written
into the script) is then run, in each repetition, three ways in turn:

- **bare k6**: the installed k6 (``.venv/bin/k6``, the one the agent finds)
  started directly with the very command line and environment the agent
  builds (runners/adapters/k6.py: ``k6 run --out json=FILE --address ""
  --no-usage-report --quiet --no-color script.js``), timed from the start of
  the process to its exit;
- **agent**: a run of a monitor pinned to the agent, requested as the API
  and the scheduler do (``request_run``: the run row, the message on the
  agent's queue), timed from the trigger until this process sees the run
  final in PostgreSQL (polled every 10 ms), i.e. until the agent has claimed
  it, run the same k6, streamed its series and logs, parsed its output and
  the control plane has judged and stored the result;
- **Taurus** (full mode only): ``bzt`` (installed from PyPI by
  scripts/install-bzt.sh into var/tools/bzt) driving the same k6 on the same
  script (``concurrency: 2``, ``hold-for`` the same duration), timed from the
  start of ``bzt`` to its exit, with its console and update check off.

Figures (seconds are medians over the repetitions; --quick: 1 repetition of 1 s
runs, no Taurus; full: 5 repetitions of 5 s runs after one unmeasured warm-up
round of each kind):

- ``overhead_wall_s``: median over the repetitions of agent wall − bare k6
  wall of the same repetition; ``bzt_overhead_wall_s`` likewise for Taurus
  (None in --quick, and when Taurus could not be installed: ``bzt_error``);
- ``overhead_cpu_pct``: the agent process's own CPU time (user + system of
  the ``perfmon-agent run`` process and all its threads, k6 excluded: k6 is
  its child and counted apart) from trigger to stored result, as a
  percentage of that run's wall time; median over the repetitions. It
  includes what the agent does anyway while a run goes on (heartbeats, the
  broker connection); ``idle_agent_cpu_pct`` is the same measure over a
  quiet interval before the runs, for comparison;
- also ``bare_k6_wall_s``, ``agent_wall_s``, ``bzt_wall_s``, ``repetitions``,
  ``duration_s``; k6's own CPU under each (``bare_k6_cpu_s``,
  ``agent_k6_cpu_s``), the control plane's CPU over the agent run
  (``plane_cpu_pct``: gunicorn master and workers), Taurus's CPU beyond bare
  k6's (``bzt_extra_cpu_pct``: bzt and k6 together minus the bare k6 run's
  CPU, a percentage of bzt's wall time), the requests the agent's runs
  made (``requests``), every repetition's walls (``walls``), and where the
  agent's wall goes by the control plane's timestamps: ``trigger_to_claim_s``
  (publish, the agent's pick-up, its claim stored) and ``claim_to_judged_s``
  (the work dir, k6, the last series and logs, the result judged), whose
  excess over ``bare_k6_wall_s`` is the agent's work around k6.

Cleans up what it made: its processes (each in its own session, stopped with
SIGTERM, then SIGKILL after a bounded wait), its temporary directories, its
rows (plain SQL: no audit row per deleted object) and its queue in Redis.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ROOT, machine, script_main, setup_django  # noqa: E402

BIN = ROOT / ".venv" / "bin"
K6 = BIN / "k6"
AGENT = BIN / "perfmon-agent"
BZT_DIR = ROOT / "var" / "tools" / "bzt"
BZT = BZT_DIR / "bin" / "bzt"
VUS = 2
POLL_S = 0.01

SCRIPT = """import http from 'k6/http';
import {{ sleep }} from 'k6';
export const options = {{ vus: {vus}, duration: '{duration}s' }};
export default function () {{
  http.get('{url}');
  sleep(0.02);
}}
"""

BZT_CONFIG = """execution:
- executor: k6
  concurrency: {vus}
  hold-for: {duration}s
  scenario: p5
scenarios:
  p5:
    script: {script}
settings:
  check-updates: false
  artifacts-dir: {artifacts}
modules:
  console:
    disable: true
reporting:
- module: final-stats
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for(condition, timeout: float, what: str, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")


class Proc:
    """A child process in its own session, its output in a log file; stop() ends its whole group."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        with self.log_path.open("wb") as log:
            self.popen = subprocess.Popen(argv, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                          stderr=subprocess.STDOUT, start_new_session=True)

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def check_alive(self) -> None:
        if self.popen.poll() is not None:
            raise RuntimeError(f"{self.name} exited with {self.popen.returncode}:\n{self.output()[-3000:]}")

    def stop(self, timeout: float = 20) -> None:
        if self.popen.poll() is None:
            try:
                os.killpg(self.popen.pid, signal.SIGTERM)
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(10)
            except ProcessLookupError:
                pass
        # whatever the process left in its group goes too
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signal.SIGKILL)


def _get(url: str) -> int | None:
    import requests

    try:
        return requests.get(url, timeout=2).status_code
    except requests.RequestException:
        return None


def _start_target(work: Path) -> tuple[Proc, str]:
    port = _free_port()
    target = Proc("target", [sys.executable, str(ROOT / "scripts" / "demo_target.py"), "--port", str(port)],
                  {**os.environ}, work)
    url = f"http://127.0.0.1:{port}/"

    def up():
        target.check_alive()
        return _get(url) == 200

    _wait_for(up, 30, "the demo target")
    return target, url


def _start_plane(work: Path) -> tuple[Proc, str]:
    port = _free_port()
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "perfmon.settings"}
    env.setdefault("SECRET_KEY", "bench")
    plane = Proc("gunicorn", [
        str(BIN / "gunicorn"), "perfmon.wsgi:application", "--bind", f"127.0.0.1:{port}", "--workers", "2",
        "--threads", "4", "--keep-alive", "75", "--graceful-timeout", "5",
        "--control-socket", str(work / "gunicorn.ctl"),
    ], env, work)
    url = f"http://127.0.0.1:{port}"

    def up():
        plane.check_alive()
        status = _get(url + "/healthz")
        return status is not None and status < 500

    _wait_for(up, 60, "the control plane", 0.2)
    return plane, url


def _start_agent(plane_url: str, tenant, agent_id: str, home: Path, work: Path) -> Proc:
    """``perfmon-agent enroll`` then ``perfmon-agent run``, back when it heartbeats with k6."""
    from perfmon.fleet.models import Agent
    from perfmon.fleet.services import create_agent

    token = create_agent(agent_id=agent_id, location="bench", tenant=tenant).enrollment_token
    token_file = home / "token"
    token_file.write_text(token)
    config = home / "config" / "agent.json"
    done = subprocess.run(
        [str(AGENT), "--config", str(config), "enroll", "--server", plane_url, "--token-file", str(token_file),
         "--id", agent_id, "--data-dir", str(home / "data"), "--run-as", getpass.getuser(), "--tools", "k6"],
        capture_output=True, text=True, timeout=120, check=False,
    )
    token_file.unlink()
    if done.returncode != 0:
        raise RuntimeError(f"perfmon-agent enroll failed:\n{done.stdout}{done.stderr}")
    agent = Proc("agent", [str(AGENT), "--config", str(config), "run"],
                 {**os.environ, "PERFMON_AGENT_CONFIG": str(config)}, work)

    def ready():
        agent.check_alive()
        return "ready: consuming" in agent.output()

    _wait_for(ready, 60, "the agent to consume", 0.2)

    def online():
        row = Agent.all_tenants.get(pk=agent_id)
        return row.last_heartbeat_at is not None and "k6" in (row.tools or {})

    _wait_for(online, 30, "the agent's heartbeat with k6")
    return agent


def _wait4(popen: subprocess.Popen, timeout: float = 300) -> tuple[int, object]:
    """Reap ``popen`` with its own rusage; its process group is killed if it runs past ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        pid, status, usage = os.wait4(popen.pid, os.WNOHANG)
        if pid:
            popen.returncode = os.waitstatus_to_exitcode(status)
            return status, usage
        if time.monotonic() > deadline:
            os.killpg(popen.pid, signal.SIGKILL)
            popen.wait(10)
            raise RuntimeError(f"{popen.args[0]} did not exit in {timeout:.0f} s")
        time.sleep(0.005)


def _bare_k6(script: Path, work: Path) -> tuple[float, float]:
    """The agent's own k6 command run directly: (wall s, k6's user + system s)."""
    from agents.tools import scrubbed_env
    from runners.adapters.base import RunSpec
    from runners.adapters.k6 import ADAPTER

    run_dir = Path(tempfile.mkdtemp(prefix="bare-", dir=work))
    (run_dir / "tmp").mkdir()
    spec = RunSpec(work_dir=run_dir, script_path=script, tool_path=str(K6))
    command = ADAPTER.prepare(spec)
    env = scrubbed_env(command.env, work_dir=run_dir, tool_path=str(K6))
    with (run_dir / "k6.log").open("wb") as log:
        started = time.perf_counter()
        popen = subprocess.Popen(command.argv, cwd=command.cwd, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                 stderr=subprocess.STDOUT, start_new_session=True)
        status, usage = _wait4(popen)
        wall = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise RuntimeError(f"bare k6 exited {code}:\n{(run_dir / 'k6.log').read_text()[-2000:]}")
    shutil.rmtree(run_dir, ignore_errors=True)
    return wall, usage.ru_utime + usage.ru_stime


def _cpu(proc) -> tuple[float, float]:
    """(own user + system, reaped children's user + system) of a psutil process, in seconds."""
    times = proc.cpu_times()
    return times.user + times.system, times.children_user + times.children_system


def _tree_cpu(procs) -> float:
    import psutil

    total = 0.0
    for proc in procs:
        with contextlib.suppress(psutil.Error):  # a worker that went away counts nothing more
            times = proc.cpu_times()
            total += times.user + times.system
    return total


def _kill_left_in(work: Path) -> None:
    """Kill any process still running in a directory of this bench (a k6 the agent started, in its own session)."""
    import psutil

    for proc in psutil.process_iter(["pid", "cwd"]):
        if (proc.info["cwd"] or "").startswith(str(work)):
            with contextlib.suppress(psutil.Error):
                proc.kill()


def _agent_run(tenant, monitor, agent_proc, plane_procs) -> dict:
    """One run requested and waited for until stored: walls and CPU of the agent and the plane."""
    from perfmon.runs.models import Run, RunStatus
    from perfmon.runs.services import request_run

    final = RunStatus.final()
    agent_cpu0, children0 = _cpu(agent_proc)
    plane0 = _tree_cpu(plane_procs)
    started, triggered_at = time.perf_counter(), time.time()
    run = request_run(tenant=tenant, monitor=monitor)
    if run.status != RunStatus.QUEUED:
        raise RuntimeError(f"the run was not queued: {run.status} {run.error}")
    deadline = time.monotonic() + 300
    while True:
        status = Run.all_tenants.filter(pk=run.pk).values_list("status", flat=True).first()
        if status in final:
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"run {run.pk} did not end in 300 s (status {status})")
        time.sleep(POLL_S)
    wall = time.perf_counter() - started
    agent_cpu1, children1 = _cpu(agent_proc)
    plane1 = _tree_cpu(plane_procs)
    stored = Run.all_tenants.get(pk=run.pk)
    if stored.status != RunStatus.PASS:
        raise RuntimeError(f"run {run.pk} ended {stored.status}: {stored.error}")
    return {"wall": wall, "agent_cpu": agent_cpu1 - agent_cpu0, "k6_cpu": children1 - children0,
            "plane_cpu": plane1 - plane0, "requests": (stored.metrics or {}).get("count"),
            # the control plane's clock (same host): when the agent's claim and its result were stored
            "to_claim": stored.claimed_at.timestamp() - triggered_at,
            "claim_to_judged": (stored.completed_at - stored.claimed_at).total_seconds()}


def _install_bzt() -> str | None:
    """scripts/install-bzt.sh (idempotent); None when bzt is ready, else why not."""
    try:
        done = subprocess.run(["bash", str(ROOT / "scripts" / "install-bzt.sh")], cwd=ROOT, capture_output=True,
                              text=True, timeout=600, check=False)
    except subprocess.TimeoutExpired:
        return "scripts/install-bzt.sh did not finish in 600 s"
    if done.returncode != 0:
        return f"scripts/install-bzt.sh exited {done.returncode}: {(done.stdout + done.stderr)[-1500:]}"
    print(f"[p5] {done.stdout.strip()}", file=sys.stderr)
    return None


def _bzt(script: Path, duration: int, work: Path) -> tuple[float, float]:
    """Taurus driving the installed k6 on ``script``: (wall s, bzt's and k6's user + system s)."""
    run_dir = Path(tempfile.mkdtemp(prefix="bzt-", dir=work))
    config = run_dir / "p5.yml"
    config.write_text(BZT_CONFIG.format(vus=VUS, duration=duration, script=script, artifacts=run_dir / "artifacts"))
    # bzt finds k6 on PATH (the project's); its home (~/.bzt-rc, caches) is the run's own directory.
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", "HOME": str(run_dir)}
    with (run_dir / "bzt.log").open("wb") as log:
        started = time.perf_counter()
        popen = subprocess.Popen([str(BZT), str(config)], cwd=run_dir, env=env, stdin=subprocess.DEVNULL,
                                 stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        status, usage = _wait4(popen)
        wall = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise RuntimeError(f"bzt exited {code}:\n{(run_dir / 'bzt.log').read_text(errors='replace')[-3000:]}")
    shutil.rmtree(run_dir, ignore_errors=True)
    return wall, usage.ru_utime + usage.ru_stime


def _cleanup(tenant, agent_id: str) -> None:
    """The bench's rows in plain SQL: no audit row per deleted object."""
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        runs = "SELECT id FROM runs_run WHERE tenant_id = %s"
        for table in ("runs_seriespoint", "runs_runlogchunk", "runs_runpart"):
            cursor.execute(f"DELETE FROM {table} WHERE run_id IN ({runs})", [tenant.pk])  # noqa: S608 - constants
        for table in ("alerts_alert", "runs_run", "monitors_monitor", "definitions_testdefinition",
                      "operations_auditentry"):
            cursor.execute(f"DELETE FROM {table} WHERE tenant_id = %s", [tenant.pk])  # noqa: S608 - constants
        cursor.execute("DELETE FROM fleet_agentmetricsample WHERE agent_id = %s", [agent_id])
        cursor.execute("DELETE FROM fleet_agent WHERE id = %s", [agent_id])
        cursor.execute("DELETE FROM tenants_tenant WHERE id = %s", [tenant.pk])


def _delete_queue(queue: str) -> None:
    import redis
    from django.conf import settings

    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    try:
        # the queue, its priority lists, and the binding sets kombu keeps per exchange (one per agent queue)
        client.delete(queue, *[f"{queue}\x06\x16{p}" for p in range(1, 10)], f"_kombu.binding.{queue}",
                      f"_kombu.binding_permanent.{queue}")
        client.zrem("_kombu.binding_deadlines", queue)
    finally:
        client.close()


def _median(values: list[float]) -> float:
    return round(statistics.median(values), 3)


def run(quick: bool) -> dict:
    setup_django()
    import psutil

    from perfmon.definitions.models import TestDefinition
    from perfmon.fleet.models import Agent
    from perfmon.monitors.models import Monitor
    from perfmon.tenants.models import Tenant

    repetitions, duration = (1, 1) if quick else (5, 5)
    warmup = not quick
    result: dict = {"machine": machine(), "repetitions": repetitions, "duration_s": duration, "vus": VUS}
    bzt_error = None
    if not quick:
        bzt_error = _install_bzt()

    slug = f"bench-p5-{uuid.uuid4().hex[:8]}"
    work = Path(tempfile.mkdtemp(prefix="perfmon-p5-"))
    # A traversable (0711) home: the user tools run as must reach its run dirs.
    home = work / "agent"
    home.mkdir(mode=0o711)
    procs: list[Proc] = []
    tenant = None
    queue = f"agent.{slug}"
    try:
        target, target_url = _start_target(work)
        procs.append(target)
        plane, plane_url = _start_plane(work)
        procs.append(plane)
        tenant = Tenant.objects.create(name=slug, slug=slug)
        agent = _start_agent(plane_url, tenant, slug, home, work)
        procs.append(agent)

        script = work / "p5.js"
        script_text = SCRIPT.format(vus=VUS, duration=duration, url=target_url)
        script.write_text(script_text)
        test = TestDefinition.all_tenants.create(tenant=tenant, name=slug, tool="k6", script=script_text,
                                                 script_filename="p5.js", status="active")
        monitor = Monitor.all_tenants.create(tenant=tenant, name=slug, test=test, schedule="* * * * *",
                                             enabled=False, agent=Agent.all_tenants.get(pk=slug))
        agent_ps = psutil.Process(agent.popen.pid)
        plane_ps = psutil.Process(plane.popen.pid)

        def plane_procs():
            return [plane_ps, *plane_ps.children(recursive=True)]

        # The agent's cost when no run is going on, over as long a quiet interval as one run.
        idle0, _ = _cpu(agent_ps)
        time.sleep(duration)
        idle1, _ = _cpu(agent_ps)
        result["idle_agent_cpu_pct"] = round(100 * (idle1 - idle0) / duration, 2)

        if warmup:  # first runs pay for cold caches (the plane's first requests, k6's binary, imports)
            _bare_k6(script, work)
            _agent_run(tenant, monitor, agent_ps, plane_procs())
            if bzt_error is None:
                try:
                    _bzt(script, duration, work)
                except RuntimeError as exc:
                    bzt_error = str(exc)[-2000:]

        bare, agent_runs, bzt = [], [], []
        for _ in range(repetitions):
            bare.append(_bare_k6(script, work))
            agent_runs.append(_agent_run(tenant, monitor, agent_ps, plane_procs()))
            if not quick and bzt_error is None:
                bzt.append(_bzt(script, duration, work))
            agent.check_alive()

        bare_walls = [wall for wall, _ in bare]
        agent_walls = [r["wall"] for r in agent_runs]
        result.update({
            "bare_k6_wall_s": _median(bare_walls),
            "agent_wall_s": _median(agent_walls),
            "overhead_wall_s": _median([a - b for a, b in zip(agent_walls, bare_walls, strict=True)]),
            "overhead_cpu_pct": round(statistics.median(100 * r["agent_cpu"] / r["wall"] for r in agent_runs), 2),
            "agent_cpu_s": _median([r["agent_cpu"] for r in agent_runs]),
            "bare_k6_cpu_s": _median([cpu for _, cpu in bare]),
            "agent_k6_cpu_s": _median([r["k6_cpu"] for r in agent_runs]),
            "plane_cpu_pct": round(statistics.median(100 * r["plane_cpu"] / r["wall"] for r in agent_runs), 2),
            "trigger_to_claim_s": _median([r["to_claim"] for r in agent_runs]),
            "claim_to_judged_s": _median([r["claim_to_judged"] for r in agent_runs]),
            "requests": {"agent": [r["requests"] for r in agent_runs]},
            "walls": {"bare_k6": [round(w, 3) for w in bare_walls], "agent": [round(w, 3) for w in agent_walls]},
        })
        if bzt:
            bzt_walls = [wall for wall, _ in bzt]
            bare_cpu = statistics.median(cpu for _, cpu in bare)
            result.update({
                "bzt_wall_s": _median(bzt_walls),
                "bzt_overhead_wall_s": _median([z - b for z, b in zip(bzt_walls, bare_walls, strict=True)]),
                "bzt_extra_cpu_pct": round(statistics.median(100 * (cpu - bare_cpu) / wall for wall, cpu in bzt), 2),
            })
            result["walls"]["bzt"] = [round(w, 3) for w in bzt_walls]
        else:
            result.update({"bzt_wall_s": None, "bzt_overhead_wall_s": None, "bzt_extra_cpu_pct": None})
        if bzt_error:
            result["bzt_error"] = bzt_error
        result["bzt_version"] = None if quick or bzt_error else _bzt_version()
        result["k6_version"] = subprocess.run([str(K6), "version"], capture_output=True, text=True, timeout=30,
                                              check=False).stdout.strip()
        result["machine_after"] = machine()
    finally:
        for proc in reversed(procs):  # the agent first, then the plane it reports to, then the target
            proc.stop()
        _kill_left_in(work)
        if tenant is not None:
            _cleanup(tenant, slug)
            _delete_queue(queue)
        shutil.rmtree(work, ignore_errors=True)
    return result


def _bzt_version() -> str | None:
    done = subprocess.run([str(BZT_DIR / "bin" / "python"), "-c", "import bzt; print(bzt.VERSION)"],
                          capture_output=True, text=True, timeout=60, check=False)
    return done.stdout.strip() or None

if __name__ == "__main__":
    script_main(run, __doc__.split("\n")[0])
