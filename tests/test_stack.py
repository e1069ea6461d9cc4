"""`make up`'s stack: from an empty var dir it serves /healthz, the admin login and
the demo key, and Ctrl-C stops every process it started."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT_S = 90


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


def children_of(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-eo", "pid=,ppid="], capture_output=True, text=True, check=True).stdout
    return [int(line.split()[0]) for line in out.splitlines() if int(line.split()[1]) == pid]


@pytest.mark.integration
def test_make_up_stack_serves_and_stops_cleanly(tmp_path):
    port = free_port()
    env = {**os.environ, "PORT": str(port), "PERFMON_VAR_DIR": str(tmp_path)}
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
        assert len(started) >= 3  # web, worker, beat (and the agent when installed)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            code = proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            proc.kill()
            pytest.fail("the stack did not stop within 40 s of Ctrl-C")
        log.close()
    assert code == 0, (tmp_path / "stack.log").read_text()[-3000:]
    alive = [pid for pid in started if Path(f"/proc/{pid}").exists() and "zombie" not in Path(f"/proc/{pid}/status").read_text()]
    assert alive == []
