"""A bounded, ordered, crash-safe on-disk queue of posts to the control plane.

Format: one file per post in the spool directory, named by a 20-digit
sequence number (``00000000000000000042.json``), holding
``{"path": ..., "run_id": ..., "kind": ..., "body": {...}}``. A post is
written to a temporary name, fsync'd, renamed into place and the directory
fsync'd, so after a crash or power cut a post is either wholly there or
not there. Posts are read back in sequence order and deleted only after the
control plane accepted them, so a restarted agent resumes exactly where it
stopped.

Files rather than one append-only journal: deleting a sent post is one
unlink (no compaction), and a damaged file loses one post, not the tail.

Damaged files. A temporary file a crash left behind is moved to
``damaged/`` at start, with a log line naming it (the evidence is kept; its
post was never spooled, so its ``append`` never returned). A post file that
is empty, half a JSON document or not a post is found when it is read for
sending and set aside the same way; the rest is sent in order. Reading it
then rather than at start keeps a start over a large backlog quick. A file
that cannot be moved there is renamed ``damaged-<name>`` in place, or at
worst skipped for this process: the queue never stops on one bad file.

The bound (``max_bytes``) keeps an outage from filling the disk. When it
is reached, series and log posts are refused (logged once until the spool
is below the bound again) but essential posts (a run's result) are always
written: a run must end.

A full disk (ENOSPC, EDQUOT, or any other write error). ``append`` never
raises: the post is kept in memory instead, up to ``memory_max_bytes``, and
sent from there like any other; beyond that series and log posts are
dropped, results never. A result is first written to disk into the space of
``reserve``, a file of ``reserve_bytes`` the spool keeps for this (deleted
to make room, made again once the disk has space), so a run's end survives
a crash even on a full disk. The episode is logged once when it begins (and
once when the memory is full too) and once when it ends: at the first
write that succeeds again, the posts held in memory are written to disk
under their own sequence numbers, so order is kept. Posts still held in
memory when the spool is closed are lost (logged). ``status()`` says
whether the spool is full now.

One process at a time: the spool takes an exclusive lock (flock) on
``lock`` in its directory, so two agents started with the same config
cannot send the same posts twice.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

_SUFFIX = ".json"
_TMP_PREFIX = ".tmp-"
DAMAGED = "damaged"
RESERVE = "reserve"
RESERVE_BYTES = 4 * 1024 * 1024  # a large result (300 request names with their causes) is about this
MEMORY_MAX_BYTES = 64 * 1024 * 1024
_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)


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


def _parse(data: bytes) -> dict:
    """A spooled post's document; ValueError when it is not one (empty, half written, not a post)."""
    if not data:
        raise ValueError("empty file")
    doc = json.loads(data)
    if not isinstance(doc, dict) or not isinstance(doc.get("body"), dict) or not all(
            isinstance(doc.get(key), str) for key in ("path", "run_id", "kind")):
        raise ValueError("not a spooled post")
    return doc


def _describe(exc: OSError) -> str:
    return f"[Errno {exc.errno}] {exc.strerror}" if exc.errno else str(exc)


class Spool:
    """The queue in ``directory`` (created 0700). Thread-safe."""

    def __init__(self, directory: Path, *, max_bytes: int = 512 * 1024 * 1024, fsync: bool = True,
                 memory_max_bytes: int = MEMORY_MAX_BYTES, reserve_bytes: int = RESERVE_BYTES):
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self.memory_max_bytes = memory_max_bytes
        self.reserve_bytes = reserve_bytes
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
        with contextlib.suppress(OSError):  # a full disk: the pid is only for the message above
            os.ftruncate(self._lock_fd, 0)
            os.pwrite(self._lock_fd, str(os.getpid()).encode(), 0)
        self._index: deque[tuple[int, int]] = deque()  # (seq, size), oldest first
        self._memory: dict[int, bytes] = {}  # posts the disk had no room for, by seq
        self._memory_bytes = 0
        self._bytes = 0
        self.dropped = 0
        self.damaged = 0
        # The current episodes: the bound reached, the directory not writable (full), memory full too.
        self._over_bound = 0  # posts refused by the bound in this episode
        self.full_since: float | None = None
        self.full_error = ""
        self._full_dropped = 0
        self._memory_full = False
        self._load()
        self._make_reserve()

    # -- start ---------------------------------------------------------------------------
    def _load(self) -> None:
        found = []
        for item in sorted(self.directory.iterdir()):
            if item.name.startswith(_TMP_PREFIX):
                self._set_aside(item, "a write a crash interrupted: never spooled")
            elif item.suffix == _SUFFIX and item.stem.isdigit():
                with contextlib.suppress(FileNotFoundError):
                    found.append((int(item.stem), item.stat().st_size))
        found.sort()
        self._index.extend(found)
        self._bytes = sum(size for _, size in found)
        self._next = found[-1][0] + 1 if found else 0
        if found:
            log.info("spool %s: %d posts (%d bytes) left from before, sending them first",
                     self.directory, len(found), self._bytes)

    def _set_aside(self, item: Path, why: str) -> None:
        """Move a damaged file to damaged/ (else rename it in place); never raises."""
        self.damaged += 1
        target = self.directory / DAMAGED / item.name
        try:
            target.parent.mkdir(exist_ok=True, mode=0o700)
            os.replace(item, target)
        except FileNotFoundError:
            log.error("spool: %s is unreadable (%s) and gone; skipped it", item, why)
            return
        except OSError:  # no room for damaged/ (a full disk): set aside in place, under a name never loaded
            target = item.with_name(f"{DAMAGED}-{item.name.lstrip('.')}")
            try:
                os.replace(item, target)
            except OSError as exc:
                log.error("spool: %s is unreadable (%s) and cannot be moved aside (%s); skipped it",
                          item, why, _describe(exc))
                return
        log.error("spool: %s is unreadable (%s); skipped it and moved it to %s (the rest is sent)",
                  item, why, target)

    def _make_reserve(self) -> bool:
        """Have ``reserve`` hold ``reserve_bytes`` of disk for results; False if there is no room."""
        if self.reserve_bytes <= 0:
            return True
        path = self.directory / RESERVE
        with contextlib.suppress(OSError):
            if path.stat().st_size >= self.reserve_bytes:
                return True
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
            try:
                os.posix_fallocate(fd, 0, self.reserve_bytes)
                if self._fsync:
                    os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            with contextlib.suppress(OSError):
                path.unlink()
            log.warning("spool %s: no room for its %d-byte reserve for results (%s); made at the next "
                        "successful write", self.directory, self.reserve_bytes, _describe(exc))
            return False
        return True

    def _free_reserve(self) -> bool:
        try:
            (self.directory / RESERVE).unlink()
        except OSError:
            return False
        return True

    # -- the queue -----------------------------------------------------------------------
    def _file(self, seq: int) -> Path:
        return self.directory / f"{seq:020d}{_SUFFIX}"

    def __len__(self) -> int:
        with self._lock:
            return len(self._index)

    def newest_seq(self) -> int | None:
        """The seq of the newest spooled post (None when empty): later posts have larger ones."""
        with self._lock:
            return self._index[-1][0] if self._index else None

    @property
    def bytes(self) -> int:
        with self._lock:
            return self._bytes

    @property
    def full(self) -> bool:
        """True while the spool directory takes no writes (the disk is full): posts are held in memory."""
        return self.full_since is not None

    def status(self) -> dict:
        with self._lock:
            return {"posts": len(self._index), "bytes": self._bytes, "full": self.full_since is not None,
                    "full_error": self.full_error, "held_in_memory": len(self._memory),
                    "held_bytes": self._memory_bytes, "dropped": self.dropped, "damaged": self.damaged}

    def _write(self, seq: int, data: bytes) -> None:
        """The post durably in place as ``seq``'s file, or OSError with nothing left behind."""
        tmp = self.directory / f"{_TMP_PREFIX}{seq}"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                view = memoryview(data)
                while view:  # a nearly full disk takes part of a write without an error
                    written = os.write(fd, view)
                    if written <= 0:
                        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                    view = view[written:]
                if self._fsync:
                    os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, self._file(seq))
        except OSError:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise
        if self._fsync:
            with contextlib.suppress(OSError):  # the rename is done; a failed directory sync is not a lost post
                _fsync_dir(self.directory)

    def append(self, *, path: str, run_id: str, kind: str, body: dict, essential: bool = False) -> bool:
        """Add a post at the end; True once it is kept (on disk, or in memory while the disk is full).

        Returns False (and counts it in ``dropped``) when the post is not
        ``essential`` and the spool is over its bound, or the disk is full and
        the memory for held posts is too. Never raises for a disk error.
        """
        data = json.dumps({"path": path, "run_id": run_id, "kind": kind, "body": body},
                          separators=(",", ":")).encode()
        with self._lock:
            over = self._bytes + len(data) > self.max_bytes
            if over and not essential:
                self.dropped += 1
                self._over_bound += 1
                if self._over_bound == 1:
                    log.error("spool %s holds %d bytes, its bound (spool_max_bytes %d): dropping new series and "
                              "log posts until the control plane takes the backlog (results are kept)",
                              self.directory, self._bytes, self.max_bytes)
                return False
            if self._over_bound and not over:
                log.warning("spool %s is below its bound again; %d series and log posts were dropped",
                            self.directory, self._over_bound)
                self._over_bound = 0
            seq = self._next
            try:
                self._write(seq, data)
            except OSError as exc:
                if not self._held(seq, data, exc, essential):
                    return False
            else:
                if self.full_since is not None or self._memory:
                    self._recovered()
            self._next += 1
            self._index.append((seq, len(data)))
            self._bytes += len(data)
            self.available.notify_all()
        return True

    def _held(self, seq: int, data: bytes, exc: OSError, essential: bool) -> bool:
        """The disk refused ``seq``: a result into the reserve's room, else the post in memory,
        else dropped (False). Under the lock."""
        if self.full_since is None:
            self.full_since = time.time()
            self.full_error = _describe(exc)
            self._full_dropped = 0
            what = "is full" if exc.errno in _FULL_ERRNOS else "cannot be written"
            log.error("spool directory %s %s (%s): keeping posts in memory (up to %d bytes) until it has "
                      "space; results are always kept. Free space there (docs/agent-install.md, Outages)",
                      self.directory, what, self.full_error, self.memory_max_bytes)
        if essential and self._free_reserve():
            try:
                self._write(seq, data)
                log.warning("spool directory %s is full: wrote a result into its reserve", self.directory)
                return True
            except OSError:
                pass
        if essential or self._memory_bytes + len(data) <= self.memory_max_bytes:
            self._memory[seq] = data
            self._memory_bytes += len(data)
            return True
        self.dropped += 1
        self._full_dropped += 1
        if not self._memory_full:
            self._memory_full = True
            log.error("spool directory %s is still full and %d bytes of posts wait in memory: dropping series "
                      "and log posts until it has space (results are kept)", self.directory, self._memory_bytes)
        return False

    def _recovered(self) -> None:
        """A write succeeded again: the held posts to disk in order, the reserve back. Under the lock."""
        held = len(self._memory)
        for seq in sorted(self._memory):
            try:
                self._write(seq, self._memory[seq])
            except OSError:
                return  # still no room for all of them: the episode goes on
            self._memory_bytes -= len(self._memory.pop(seq))
        if self.full_since is not None:
            log.warning("spool directory %s has space again after %.0fs: %d posts held in memory written to it; "
                        "%d series and log posts were dropped while it was full", self.directory,
                        time.time() - self.full_since, held, self._full_dropped)
        self.full_since = None
        self.full_error = ""
        self._memory_full = False
        self._make_reserve()

    def peek(self, limit: int = 1) -> list[Entry]:
        """The oldest ``limit`` posts, oldest first (without removing them).

        A file that cannot be parsed (damage since it was loaded) is moved to
        ``damaged/`` with a log line and skipped, so one bad file never blocks
        the queue.
        """
        out: list[Entry] = []
        with self._lock:
            index = [(seq, size, self._memory.get(seq)) for seq, size in list(self._index)[:limit]]
        for seq, size, held in index:
            try:
                data = _parse(held if held is not None else self._file(seq).read_bytes())
            except (OSError, ValueError) as exc:
                self._quarantine(seq, exc)
                break  # the index changed: let the caller peek again
            out.append(Entry(seq, data["path"], data["run_id"], data["kind"], data["body"], size))
        return out

    def _quarantine(self, seq: int, exc: Exception) -> None:
        why = _describe(exc) if isinstance(exc, OSError) else str(exc)
        self._set_aside(self._file(seq), why)
        self._forget([seq])

    def remove(self, entries: list[Entry]) -> None:
        """Delete posts that were delivered (or permanently refused)."""
        with self._lock:
            for entry in entries:
                held = self._memory.pop(entry.seq, None)
                if held is not None:
                    self._memory_bytes -= len(held)
                else:
                    with contextlib.suppress(OSError):  # left behind: sent again at the next start (idempotent)
                        self._file(entry.seq).unlink()
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
        """Release the lock (the files stay for the next start); held posts are written if there is room."""
        with self._lock:
            if self._memory:
                self._recovered()
            if self._memory:
                log.error("spool directory %s is still full: %d posts held in memory are lost", self.directory,
                          len(self._memory))
        if self._lock_fd >= 0:
            os.close(self._lock_fd)
            self._lock_fd = -1
