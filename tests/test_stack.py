"""`make up`'s stack: from an empty var dir it serves /healthz, the admin login and
the demo key, its local agent enrolls and runs a real k6 monitor, and Ctrl-C stops
every process it started."""

from __future__ import annotations

import base64
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT_S = 90


@contextmanager
def own_database() -> Iterator[dict[str, str]]:
    """The environment for a stack with a database of its own on DATABASE_URL's server,
    dropped afterwards, so that nothing earlier runs left there (the demo tenant's
    monitors count against its license) changes what the test sees. Without
    DATABASE_URL the stack's embedded SQLite under its var directory is fresh anyway."""
    url = os.environ.get("DATABASE_URL", "")
    if not url:
        yield {}
        return
    import psycopg
    from psycopg import sql

    name = f"perfmon_stack_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield {"DATABASE_URL": urlsplit(url)._replace(path=f"/{name}").geturl()}
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(url: str, deadline: float, proc: subprocess.Popen) -> requests.Response:
    last_error = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the stack exited early with {proc.returncode}")
        try:
            response = requests.get(url, timeout=2)
            if response.status_code == 200:
                return response
            last_error = response.status_code
        except requests.RequestException as exc:
            last_error = exc
        time.sleep(0.5)
    pytest.fail(f"{url} did not answer 200 in time: {last_error}")


def wait_for_agent(url: str, headers: dict, proc: subprocess.Popen) -> dict:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the stack exited early with {proc.returncode}")
        agents = requests.get(url, headers=headers, timeout=5).json()
        local = [agent for agent in agents if agent["id"] == "default" and agent["status"] == "online"]
        if local:
            return local[0]
        time.sleep(0.5)
    pytest.fail(f"the local agent did not come online: {agents}")


def wait_for_run(url: str, headers: dict, proc: subprocess.Popen) -> dict:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the stack exited early with {proc.returncode}")
        run = requests.get(url, headers=headers, timeout=5).json()
        if run["status"] not in ("queued", "running"):
            return run
        time.sleep(0.5)
    pytest.fail(f"the run did not finish: {run}")


def children_of(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-eo", "pid=,ppid="], capture_output=True, text=True, check=True).stdout
    return [int(line.split()[0]) for line in out.splitlines() if int(line.split()[1]) == pid]


@pytest.mark.integration
def test_make_up_stack_serves_and_stops_cleanly(tmp_path, stack_database):
    port = free_port()
    target_port = free_port()
    env = {
        **os.environ, **stack_database,
        "PORT": str(port), "PERFMON_VAR_DIR": str(tmp_path), "PERFMON_DEMO_TARGET_PORT": str(target_port),
    }
    env.pop("SECRET_KEY", None)  # the stack generates its own, as on a fresh machine
    env.pop("DJANGO_SETTINGS_MODULE", None)
    log = (tmp_path / "stack.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "scripts" / "stack.py")], env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        base = f"http://127.0.0.1:{port}"
        health = wait_for(f"{base}/healthz", time.monotonic() + START_TIMEOUT_S, proc).json()
        assert health["database"]["ok"] and health["broker"]["ok"]
        assert "Log in" in requests.get(f"{base}/admin/login/", timeout=5).text
        key = (tmp_path / "demo-api-key").read_text().strip()
        assert requests.get(f"{base}/api/", headers={"X-API-Key": key}, timeout=5).json()["tenant"] == "demo"
        assert requests.get(f"{base}/api/", timeout=5).status_code == 401
        assert (tmp_path / "demo-admin-password").read_text().strip()
        started = children_of(proc.pid)
        assert len(started) == 5  # web, worker, beat, the local agent and the demo target
        # web's control socket is this stack's own, under its var directory.
        assert (tmp_path / "gunicorn.ctl").is_socket()
        headers = {"X-API-Key": key}
        agent = wait_for_agent(f"{base}/api/agents", headers, proc)
        assert agent["status"] == "online" and agent["id"] == "default"

        # The tour of the README: a k6 monitor against the demo target, run by the local agent.
        script = (
            "import http from 'k6/http';\n"
            "export const options = { vus: 2, duration: '2s' };\n"
            "export default function () { http.get(__ENV.TARGET_HOST); }\n"
        )
        created = requests.post(f"{base}/api/monitors", headers=headers, timeout=10, json={
            "name": "Smoke", "schedule": "0 0 1 1 *", "tool": "k6",
            "scriptContent": base64.b64encode(script.encode()).decode(),
            "thresholds": {"latencyMs": 2000, "errorRatePercent": 1},
            "parameters": {"TARGET_HOST": f"http://127.0.0.1:{target_port}/"},
        })
        assert created.status_code == 201, created.text
        started_run = requests.post(f"{base}/api/monitors/{created.json()['id']}/run", headers=headers, timeout=10)
        assert started_run.status_code == 202, started_run.text
        run = wait_for_run(f"{base}/api/runs/{started_run.json()['runId']}", headers, proc)
        assert run["status"] == "pass", run
        assert run["metrics"]["totalRequests"] > 0 and run["agentId"] == "default"

        # A client polling at the CLI's pace (every 2 s on one keep-alive connection)
        # is never reset: web keeps idle connections open longer than that pause.
        session, resets = requests.Session(), []
        for _ in range(6):
            try:
                session.get(f"{base}/api/runs/{run['id']}", headers=headers, timeout=10)
            except requests.ConnectionError as exc:
                resets.append(exc)
            time.sleep(2.0)
        assert resets == []
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            code = proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            proc.kill()
            pytest.fail("the stack did not stop within 40 s of Ctrl-C")
        log.close()
    output = (tmp_path / "stack.log").read_text()
    assert code == 0, output[-3000:]
    # Every child stopped on its own within the grace period: none had to be killed.
    assert "killing it" not in output, output[-3000:]
    # Requests are logged to var/log/access.log, not into everyone's output.
    assert '"GET /healthz' in (tmp_path / "log" / "access.log").read_text()
    assert '"GET /healthz' not in output and '"POST /agent-api' not in output
    alive = [pid for pid in started if Path(f"/proc/{pid}").exists() and "zombie" not in Path(f"/proc/{pid}/status").read_text()]
    assert alive == []
