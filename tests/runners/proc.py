"""Start and stop real tools in tests the way the agent does: own process
group, parameters merged into the environment, output to files, bounded waits."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from runners.adapters.base import Command


@dataclass
class Running:
    proc: subprocess.Popen
    command: Command
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait(self, timeout: float) -> int:
        """Wait for exit; on timeout kill the group and fail with the tool's log."""
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            kill_group(self.proc)
            raise AssertionError(
                f"tool did not exit within {timeout} s; log:\n{self.log()[-3000:]}") from exc

    def stop(self, timeout: float) -> tuple[int, float]:
        """Send the StopPolicy signal to the group; return (exit code, seconds to exit)."""
        started = time.monotonic()
        os.killpg(self.proc.pid, self.command.stop.signal)
        code = self.wait(timeout)
        return code, time.monotonic() - started


def kill_group(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)


def start(command: Command, log_name: str = "tool.log") -> Running:
    """Start ``command`` in a new session (its own process group)."""
    log_path = Path(command.cwd) / log_name
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(command.argv, cwd=command.cwd, env={**os.environ, **command.env},
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
    return Running(proc, command, log_path)
