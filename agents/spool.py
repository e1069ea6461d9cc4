"""A bounded, ordered, crash-safe on-disk queue of posts to the control plane.

Format: one file per post in the spool directory, named by a 20-digit
sequence number (``00000000000000000042.json``), holding
``{"path": ..., "run_id": ..., "kind": ..., "body": {...}}``. A post is
written to a temporary name, fsync'd, renamed into place and the directory
fsync'd, so after a crash or power cut a post is either wholly there or
not there; temporaries are removed at the next start. Posts are read back
in sequence order and deleted only after the control plane accepted them,
so a restarted agent resumes exactly where it stopped.

Files rather than one append-only journal: deleting a sent post is one
unlink (no compaction), and a damaged file loses one post, not the tail.

The bound (``max_bytes``) keeps an outage from filling the disk. When it
is reached, series and log posts are refused (the caller logs it) but
essential posts (a run's result) are always written: a run must end.

One process at a time: the spool takes an exclusive lock (flock) on
``lock`` in its directory, so two agents started with the same config
cannot send the same posts twice.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import threading
from collections import deque
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

_SUFFIX = ".json"
_TMP_PREFIX = ".tmp-"


class SpoolLocked(Exception):
    """Another process holds this spool (another agent with the same config is running)."""


@dataclass(frozen=True)
class Entry:
    seq: int
    path: str
    run_id: str
    kind: str
    body: dict
    size: int


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Spool:
    """The queue in ``directory`` (created 0700). Thread-safe."""

    def __init__(self, directory: Path, *, max_bytes: int = 512 * 1024 * 1024, fsync: bool = True):
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self._fsync = fsync
        self._lock = threading.Lock()
        self.available = threading.Condition(self._lock)
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.directory, 0o700)
        self._lock_fd = os.open(self.directory / "lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(self._lock_fd, 32, 0).decode(errors="replace").strip() or "?"
            os.close(self._lock_fd)
            raise SpoolLocked(f"the spool {self.directory} is in use by another perfmon-agent "
                              f"(pid {holder}); each agent needs its own config and spool") from None
        os.ftruncate(self._lock_fd, 0)
        os.pwrite(self._lock_fd, str(os.getpid()).encode(), 0)
        self._index: deque[tuple[int, int]] = deque()  # (seq, size), oldest first
        self._bytes = 0
        self.dropped = 0
        self._load()

    def _load(self) -> None:
        found = []
        for item in self.directory.iterdir():
            if item.name.startswith(_TMP_PREFIX):
                item.unlink(missing_ok=True)  # never renamed into place: the post was not spooled
                continue
            if item.suffix == _SUFFIX and item.stem.isdigit():
                found.append((int(item.stem), item.stat().st_size))
        found.sort()
        self._index.extend(found)
        self._bytes = sum(size for _, size in found)
        self._next = found[-1][0] + 1 if found else 0
        if found:
            log.info("spool %s: %d posts (%d bytes) left from before, sending them first",
                     self.directory, len(found), self._bytes)

    def _file(self, seq: int) -> Path:
        return self.directory / f"{seq:020d}{_SUFFIX}"

    def __len__(self) -> int:
        with self._lock:
            return len(self._index)

    @property
    def bytes(self) -> int:
        with self._lock:
            return self._bytes

    def append(self, *, path: str, run_id: str, kind: str, body: dict, essential: bool = False) -> bool:
        """Add a post at the end; True once it is durably on disk.

        Returns False (and counts it in ``dropped``) when the spool is full
        and the post is not ``essential``. Raises OSError if the disk fails.
        """
        data = json.dumps({"path": path, "run_id": run_id, "kind": kind, "body": body},
                          separators=(",", ":")).encode()
        with self._lock:
            if not essential and self._bytes + len(data) > self.max_bytes:
                self.dropped += 1
                return False
            seq = self._next
            self._next += 1
            tmp = self.directory / f"{_TMP_PREFIX}{seq}"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                os.write(fd, data)
                if self._fsync:
                    os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, self._file(seq))
            if self._fsync:
                _fsync_dir(self.directory)
            self._index.append((seq, len(data)))
            self._bytes += len(data)
            self.available.notify_all()
        return True

    def peek(self, limit: int = 1) -> list[Entry]:
        """The oldest ``limit`` posts, oldest first (without removing them).

        A file that cannot be parsed (disk damage) is moved to ``damaged/``
        with a log line and skipped, so one bad file never blocks the queue.
        """
        out: list[Entry] = []
        with self._lock:
            index = list(self._index)[:limit]
        for seq, size in index:
            try:
                data = json.loads(self._file(seq).read_bytes())
                out.append(Entry(seq, data["path"], data["run_id"], data["kind"], data["body"], size))
            except (OSError, ValueError, KeyError, TypeError) as exc:
                self._quarantine(seq, size, exc)
                break  # the index changed: let the caller peek again
        return out

    def _quarantine(self, seq: int, size: int, exc: Exception) -> None:
        log.error("spool: post %d is unreadable (%s); moved to %s", seq, exc, self.directory / "damaged")
        damaged = self.directory / "damaged"
        damaged.mkdir(exist_ok=True, mode=0o700)
        with contextlib.suppress(FileNotFoundError):
            os.replace(self._file(seq), damaged / self._file(seq).name)
        self._forget([seq])

    def remove(self, entries: list[Entry]) -> None:
        """Delete posts that were delivered (or permanently refused)."""
        for entry in entries:
            self._file(entry.seq).unlink(missing_ok=True)
        self._forget([entry.seq for entry in entries])

    def _forget(self, seqs: list[int]) -> None:
        gone = set(seqs)
        with self._lock:
            kept = deque(item for item in self._index if item[0] not in gone)
            self._bytes = sum(size for _, size in kept)
            self._index = kept

    def wait(self, timeout: float) -> bool:
        """Block until the spool is non-empty or ``timeout`` passed; True if non-empty."""
        with self._lock:
            if not self._index:
                self.available.wait(timeout)
            return bool(self._index)

    def close(self) -> None:
        """Release the lock (the files stay for the next start)."""
        if self._lock_fd >= 0:
            os.close(self._lock_fd)
            self._lock_fd = -1
