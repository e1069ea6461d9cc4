"""What the agent's threads share: the runs in progress, cancel requests, shutdown.

Each run in progress also has a marker file (``<spool>/running/<run>.json``)
from its claim until its result is spooled. Markers left by an agent that
died (kill -9, power cut) are turned into ``agent_error`` results at the
next start, so a run never stays ``running`` because its agent vanished.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)


@dataclass
class RunHandle:
    run_id: str
    cancel: threading.Event = field(default_factory=threading.Event)
    cancel_reason: str = ""
    series_count: int = 0
    log_chunk_count: int = 0
    # The tool's process group and its leader's start time (psutil create_time), once started:
    # an agent that starts after this one died stops a tool it left running (agents.worker.recover).
    tool_pgid: int | None = None
    tool_started: float | None = None
    # What the marker records besides the counts (claim_id, tool, work_dir): kept across rewrites, so a
    # marker rewritten once the work dir exists still carries the claim its recovery report is fenced by.
    facts: dict = field(default_factory=dict)


class AgentState:
    """Thread-safe registry of runs in progress, plus the shutdown clock."""

    def __init__(self, running_dir: Path, *, shutdown_grace_s: float = 60.0):
        self.running_dir = Path(running_dir)
        self.running_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.shutdown_grace_s = shutdown_grace_s
        self._lock = threading.Lock()
        self._runs: dict[str, RunHandle] = {}
        self._shutdown_at: float | None = None
        self.shutdown_requested = threading.Event()
        self._marker_failed = False  # logged once until a marker is written again

    # -- runs --------------------------------------------------------------------------
    def begin(self, run_id: str, **facts) -> RunHandle:
        """Register a claimed run and write its marker."""
        handle = RunHandle(run_id)
        with self._lock:
            self._runs[run_id] = handle
        self.write_marker(handle, **facts)
        return handle

    def write_marker(self, handle: RunHandle, **facts) -> None:
        marker = self.running_dir / f"{handle.run_id}.json"
        handle.facts.update(facts)
        data = {"run_id": handle.run_id, "pid": os.getpid(), "series_count": handle.series_count,
                "log_chunk_count": handle.log_chunk_count, **handle.facts}
        if handle.tool_pgid is not None:
            data.update(tool_pgid=handle.tool_pgid, tool_started=handle.tool_started)
        tmp = marker.with_suffix(".tmp")
        try:
            tmp.write_text(json.dumps(data))
            os.replace(tmp, marker)
        except OSError as exc:
            # A full disk must not stop the run: the marker keeps its last counts (or, for a run
            # whose first marker failed, a crash leaves the run to the control plane's sweeper).
            with contextlib.suppress(OSError):
                tmp.unlink()
            if not self._marker_failed:
                log.error("cannot write the run marker %s (%s); the run goes on", marker, exc)
            self._marker_failed = True
            return
        if self._marker_failed:
            log.info("run markers are written again (%s)", marker)
            self._marker_failed = False

    def end(self, run_id: str) -> None:
        """Forget a run whose result is spooled."""
        with self._lock:
            self._runs.pop(run_id, None)
        (self.running_dir / f"{run_id}.json").unlink(missing_ok=True)

    def running_ids(self) -> list[str]:
        with self._lock:
            return sorted(self._runs)

    def request_cancel(self, run_id: str, reason: str) -> bool:
        """Ask the executor of ``run_id`` to stop it; False if we are not running it."""
        with self._lock:
            handle = self._runs.get(run_id)
        if handle is None:
            return False
        if not handle.cancel.is_set():
            handle.cancel_reason = reason
            handle.cancel.set()
            log.info("run %s: %s", run_id, reason)
        return True

    def leftover_markers(self) -> list[dict]:
        """Markers of runs an earlier agent process never finished (read at start-up)."""
        found = []
        for marker in sorted(self.running_dir.glob("*.json")):
            try:
                found.append(json.loads(marker.read_text()))
            except (OSError, ValueError):
                found.append({"run_id": marker.stem})
        return found

    # -- shutdown ------------------------------------------------------------------------
    def begin_shutdown(self) -> None:
        """Called once on SIGTERM: no new runs; running ones get ``shutdown_grace_s`` to finish."""
        with self._lock:
            if self._shutdown_at is None:
                self._shutdown_at = time.monotonic() + self.shutdown_grace_s
        self.shutdown_requested.set()

    @property
    def shutting_down(self) -> bool:
        return self.shutdown_requested.is_set()

    def shutdown_deadline_passed(self) -> bool:
        with self._lock:
            return self._shutdown_at is not None and time.monotonic() >= self._shutdown_at
