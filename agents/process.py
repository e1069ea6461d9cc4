"""One tool process: its own process group, captured output with a cap, stopped by policy.

The tool starts in a new session (its own process group), so stopping it
reaches everything it started, and a signal to the agent (Ctrl-C in a
terminal) does not reach it. stdout and stderr are one pipe, read by a
thread into text the executor takes as log chunks. At most
``output_cap_bytes`` are kept; then a visible marker is added and the rest
is read and discarded (a tool must never block on a full pipe).

Stopping follows the adapter's StopPolicy: its graceful signal to the
group, ``grace_s`` to exit (the executor keeps reading output meanwhile),
then SIGKILL to the group. When the tool itself exits, whatever it left
running in its group is killed too.
"""

from __future__ import annotations

import codecs
import os
import select
import signal
import subprocess
import threading
import time
from pathlib import Path

from runners.adapters.base import StopPolicy

MARKER = "[perfmon-agent]"


def truncation_marker(cap: int) -> str:
    return (f"\n{MARKER} output truncated: the run's captured output reached its cap of {cap} bytes; "
            f"further output is discarded\n")


def _kill_group(pgid: int, sig: int) -> bool:
    try:
        os.killpg(pgid, sig)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:  # the group is gone and its id reused by another user's process
        return False


class ToolProcess:
    """See the module docstring. Not thread-safe: one executor drives it."""

    def __init__(self, argv: list[str], *, cwd: Path, env: dict[str, str], output_cap_bytes: int,
                 popen_kwargs: dict | None = None):
        self.argv = argv
        self.cwd = cwd
        self.env = env
        self.cap = output_cap_bytes
        self._popen_kwargs = popen_kwargs or {}
        self.proc: subprocess.Popen | None = None
        self._reader: threading.Thread | None = None
        self._text: list[str] = []
        self._text_lock = threading.Lock()
        self.captured_bytes = 0
        self.discarded_bytes = 0
        self.truncated = False
        self._stop_policy: StopPolicy | None = None
        self._kill_at: float | None = None
        self.killed = False
        self.started_at = 0.0
        self._drained = threading.Event()  # set: stop waiting for more output (see finish())

    # -- start and output ---------------------------------------------------------
    def start(self) -> None:
        """Start the tool. Raises OSError (missing executable, permission)."""
        self.proc = subprocess.Popen(
            self.argv, cwd=self.cwd, env=self.env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, start_new_session=True, close_fds=True, **self._popen_kwargs,
        )
        self.started_at = time.monotonic()
        self._reader = threading.Thread(target=self._read, name=f"tool-output-{self.proc.pid}", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        fd = self.proc.stdout.fileno()
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        while True:
            ready, _, _ = select.select([fd], [], [], 0.2)
            if not ready:
                if self._drained.is_set():
                    break
                continue
            data = os.read(fd, 65536)
            if not data:
                break
            self._keep(data, decoder)
        tail = decoder.decode(b"", final=True)
        if tail:
            self._push(tail)
        self.proc.stdout.close()

    def _keep(self, data: bytes, decoder) -> None:
        if self.truncated:
            self.discarded_bytes += len(data)
            return
        room = self.cap - self.captured_bytes
        kept = data[:room]
        self.captured_bytes += len(kept)
        text = decoder.decode(kept, final=len(kept) < len(data))
        if len(kept) < len(data):
            self.truncated = True
            self.discarded_bytes += len(data) - len(kept)
            text += truncation_marker(self.cap)
        if text:
            self._push(text)

    def _push(self, text: str) -> None:
        with self._text_lock:
            self._text.append(text)

    def take_output(self) -> str:
        """The output captured since the last call (markers included)."""
        with self._text_lock:
            text, self._text = "".join(self._text), []
        return text

    # -- state and stopping -----------------------------------------------------------
    @property
    def pid(self) -> int:
        return self.proc.pid

    def poll(self) -> int | None:
        """The exit code once the tool exited (negative: killed by that signal), else None."""
        return self.proc.poll()

    @property
    def stopping(self) -> bool:
        return self._stop_policy is not None

    def request_stop(self, policy: StopPolicy) -> None:
        """Send the graceful signal to the group now; enforce() kills it after ``policy.grace_s``."""
        if self._stop_policy is not None or self.proc.poll() is not None:
            return
        self._stop_policy = policy
        self._kill_at = time.monotonic() + max(0.0, policy.grace_s)
        _kill_group(self.proc.pid, policy.signal)

    def enforce(self) -> None:
        """SIGKILL the group once a requested stop has outlived its grace period."""
        if self._kill_at is not None and time.monotonic() >= self._kill_at and self.proc.poll() is None:
            self.killed = _kill_group(self.proc.pid, signal.SIGKILL) or self.killed
            self._kill_at = None

    def finish(self, timeout: float = 10.0) -> None:
        """After the tool exited: kill what it left in its group and collect the rest of its output.

        A descendant that left the group (setsid) may still hold the pipe;
        reading gives up after ``timeout`` so the run can end.
        """
        _kill_group(self.proc.pid, signal.SIGKILL)
        self._reader.join(timeout)
        if self._reader.is_alive():
            self._drained.set()
            self._reader.join(1.0)

    def kill_now(self) -> None:
        """SIGKILL the whole group at once (the agent is going away)."""
        if self.proc is not None:
            _kill_group(self.proc.pid, signal.SIGKILL)
