"""Host facts and metrics, and the heartbeat loop.

Every ``heartbeat_interval_s`` (the control plane may change it in its
answer) the agent posts its version, tools, capacity, host facts, host
metrics and the runs it is running. The answer's ``cancel`` list stops
those runs. Heartbeats are not spooled: a missed one is simply replaced
by the next, and the control plane judges liveness by the latest.
"""

from __future__ import annotations

import logging
import os
import platform
import socket
import threading
from urllib.parse import urlsplit

import psutil

from agents import __version__
from agents.client import ControlPlane, TransportError
from agents.state import AgentState
from agents.tools import ToolCatalog

log = logging.getLogger(__name__)

TOOL_REFRESH_S = 600.0


def outbound_ip(server_url: str) -> str | None:
    """The local address used to reach the control plane (a UDP connect sends nothing)."""
    parts = urlsplit(server_url)
    host = parts.hostname or "127.0.0.1"
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        family = socket.getaddrinfo(host, port, proto=socket.IPPROTO_UDP)[0][0]
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            sock.connect((host, port))
            return sock.getsockname()[0]
    except OSError:
        return None


def host_facts(server_url: str) -> dict:
    """hostname, ip_address, os, arch, cpu_cores, memory_gb (what enroll and heartbeat report)."""
    return {
        "hostname": socket.gethostname(),
        "ip_address": outbound_ip(server_url),
        "os": platform.system().lower(),
        "arch": platform.machine(),
        "cpu_cores": os.cpu_count() or 1,
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
    }


def host_metrics(disk_path: str) -> dict:
    """cpu_percent (since the previous call), memory_percent, load1, disk_free_gb of ``disk_path``."""
    try:
        disk_free = round(psutil.disk_usage(disk_path).free / 2**30, 1)
    except OSError:
        disk_free = None
    return {
        "cpu_percent": psutil.cpu_percent(interval=None),
        "memory_percent": psutil.virtual_memory().percent,
        "load1": round(os.getloadavg()[0], 2),
        "disk_free_gb": disk_free,
    }


class Heartbeat:
    """The heartbeat thread (see the module docstring)."""

    def __init__(self, client: ControlPlane, state: AgentState, catalog: ToolCatalog, *,
                 interval_s: float, capacity: int, server_url: str, disk_path: str):
        self.client = client
        self.state = state
        self.catalog = catalog
        self.interval_s = interval_s
        self.capacity = capacity
        self.disk_path = disk_path
        self.facts = host_facts(server_url)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.sent = 0
        self.last_error = ""
        psutil.cpu_percent(interval=None)  # the first reading only starts the measurement

    def payload(self) -> dict:
        return {
            "version": __version__,
            "tools": self.catalog.versions(),
            "capacity": self.capacity,
            **self.facts,
            "metrics": host_metrics(self.disk_path),
            "running_runs": self.state.running_ids(),
        }

    def beat(self) -> dict | None:
        """Send one heartbeat and act on its answer; None when it failed (logged)."""
        try:
            answer = self.client.post("/heartbeat", self.payload())
        except TransportError as exc:
            if exc.status == 401:
                log.error("heartbeat refused: %s (was this agent re-enrolled or deleted?)", exc)
            elif str(exc) != self.last_error:
                log.warning("heartbeat failed: %s", exc)
            self.last_error = str(exc)
            return None
        if self.last_error:
            log.info("heartbeat delivered again")
        self.last_error = ""
        self.sent += 1
        for run_id in answer.get("cancel") or []:
            self.state.request_cancel(str(run_id), "cancelled from the control plane")
        interval = answer.get("heartbeat_interval_s")
        if isinstance(interval, (int, float)) and 0.5 <= interval <= 3600 and interval != self.interval_s:
            log.info("heartbeat interval is now %ss (control plane)", interval)
            self.interval_s = float(interval)
        return answer

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="perfmon-heartbeat", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=35)

    def _run(self) -> None:
        since_refresh = 0.0
        while not self._stop.is_set():
            self.beat()
            self._stop.wait(self.interval_s)
            since_refresh += self.interval_s
            if since_refresh >= TOOL_REFRESH_S and not self._stop.is_set():
                since_refresh = 0.0
                # a tool installed (or removed) since start-up; probing may be slow, the beat must not be
                threading.Thread(target=self.catalog.refresh, name="perfmon-tool-probe", daemon=True).start()
