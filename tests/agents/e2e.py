"""Helpers of the agent's end-to-end tests: a live control plane (gunicorn against the
test database) and real ``perfmon-agent`` processes enrolled against it."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psutil
import requests

from agents.config import load, save
from tests.agents.plane import free_port
from tests.integration.processes import BIN, Process, process_env

AGENT_BIN = Path(sys.executable).parent / "perfmon-agent"


def wait_for(condition, timeout: float, what: str, interval: float = 0.1):
    """Poll ``condition()`` until truthy; return its value or fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class LiveControlPlane:
    """gunicorn serving perfmon (tests.settings) on 127.0.0.1; stop() and start() again on the same port."""

    def __init__(self, log_dir: Path, **env: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_dir = log_dir
        self.env = process_env(**{"PERFMON_HEARTBEAT_INTERVAL": "1", "PERFMON_AGENT_OFFLINE_AFTER": "60", **env})
        self.process: Process | None = None
        self.starts = 0

    def start(self) -> LiveControlPlane:
        self.starts += 1
        argv = [str(BIN / "gunicorn"), "perfmon.wsgi:application", "--bind", f"127.0.0.1:{self.port}",
                "--workers", "1", "--threads", "8", "--graceful-timeout", "1", "--access-logfile", "-",
                "--control-socket", str(self.log_dir / f"gunicorn-{self.port}.ctl")]
        self.process = Process(f"web-{self.port}-{self.starts}", argv, self.env, self.log_dir)
        try:
            wait_for(self._healthy, 60, f"the control plane on port {self.port}", 0.2)
        except AssertionError as exc:
            output = self.process.output()[-3000:]
            self.stop()
            raise AssertionError(f"{exc}\n{output}") from None
        return self

    def _healthy(self) -> bool:
        if self.process.proc.poll() is not None:
            raise AssertionError(f"gunicorn exited:\n{self.process.output()[-3000:]}")
        try:
            return requests.get(self.url + "/healthz", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop(timeout=10)
            self.process = None


class AgentProcess:
    """An agent enrolled with the real CLI, run as a real ``perfmon-agent run`` process."""

    def __init__(self, plane: LiveControlPlane, tenant, log_dir: Path, *, tools=("k6",), **config_changes):
        from perfmon.fleet.services import create_agent

        self.agent_id = f"e2e-{uuid.uuid4().hex[:8]}"
        self.log_dir = log_dir
        self.plane = plane
        # A traversable (0711) home: the run-as user must reach its run dirs inside it.
        self.home = Path(tempfile.mkdtemp(prefix=f"perfmon-{self.agent_id}-"))
        self.home.chmod(0o711)
        self.config_path = self.home / "config" / "agent.json"
        token = create_agent(agent_id=self.agent_id, location="e2e", tenant=tenant).enrollment_token
        token_file = self.home / "token"
        token_file.write_text(token)
        done = self.cli("enroll", "--server", plane.url, "--token-file", str(token_file), "--id", self.agent_id,
                        "--data-dir", str(self.home / "data"), "--run-as", config_changes.pop("run_as_user", ""),
                        "--tools", ",".join(config_changes.pop("enabled_tools", tools)))
        assert done.returncode == 0, done.stdout + done.stderr
        token_file.unlink()
        config = load(self.config_path)
        self.credential = config.credential
        for name, value in {"retry_max_backoff_s": 0.5, "retry_initial_backoff_s": 0.1, **config_changes}.items():
            setattr(config, name, value)
        save(config, self.config_path)
        self.config = config
        self.process: Process | None = None
        self.tools = tools

    def cli(self, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([str(AGENT_BIN), "--config", str(self.config_path), *args], capture_output=True,
                              text=True, timeout=120, env=env or os.environ.copy())

    def start(self, **env: str) -> AgentProcess:
        from perfmon.fleet.models import Agent

        full = {**os.environ, "PERFMON_AGENT_CONFIG": str(self.config_path), **env}
        self.process = Process(f"agent-{self.agent_id}", [str(AGENT_BIN), "run"], full, self.log_dir)
        self.process.wait_for_output("ready: consuming", timeout=60)

        def online():
            agent = Agent.all_tenants.get(pk=self.agent_id)
            return agent.last_heartbeat_at is not None and all(t in agent.tools for t in self.tools)

        wait_for(online, 30, f"agent {self.agent_id} online with {self.tools}")
        return self

    def output(self) -> str:
        return self.process.output() if self.process else ""

    def stop(self) -> int | None:
        if self.process is None:
            return None
        code = self.process.stop(timeout=60)
        self.process = None
        return code

    def cleanup(self) -> None:
        """Kill the agent (tests of a graceful stop call stop() themselves) and any tool it left."""
        if self.process is not None:
            self.process.stop(sig=signal.SIGKILL)
            self.process = None
        work = str(self.home)
        for proc in psutil.process_iter(["pid", "cwd"]):
            if (proc.info["cwd"] or "").startswith(work):
                with contextlib.suppress(psutil.Error):
                    proc.kill()
        shutil.rmtree(self.home, ignore_errors=True)
