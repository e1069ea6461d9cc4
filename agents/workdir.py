"""The disk cap on a run's work directory: how much of the agent host's disk one run may fill.

The tool writes its raw output (k6's JSON, JMeter's JTL, ...), its
temporary files (TMPDIR) and whatever a script makes into the run's work
dir. While the run executes, the executor measures that tree now and then
(``DiskWatch.due``/``measure``) and stops the run once it holds more than
``work_cap_bytes``, the way a cancel or the time limit stops it.

A measurement is a walk of the tree that opens each directory relative to
its parent with O_NOFOLLOW, so a script that swaps a directory for a
symlink while it is walked cannot send the walk elsewhere. It counts what
the disk holds: allocated blocks (a sparse file counts what it really
uses), each inode once (hard links). Its cost is bounded: at most
MAX_ENTRIES entries and MAX_DEPTH levels are walked (a tree past either
is stopped like one past the cap: a flood of tiny files fills a disk's
inodes just as well), and the next walk waits at least WALK_SPACING times
as long as the last one took. A directory the agent cannot read is not
counted; that only happens when tools run as the agent's own user (a root
agent reads everything), and such a script could as well write outside
the work dir.

There is no per-file RLIMIT_FSIZE on the tool: setting it at spawn needs
a preexec_fn, which is unsafe in the agent's threaded process, setting it
after the start (prlimit) misses what the tool started first, and the
SIGXFSZ it sends kills a tool without its graceful stop (k6 would not
flush its output). The walk bounds the whole tree, several files included.
"""

from __future__ import annotations

import os
import stat
import time
from dataclasses import dataclass
from pathlib import Path

CHECK_S = 2.0  # the work dir is measured at most this often
WALK_SPACING = 10  # ... and only after ten times as long as the last walk took
MAX_ENTRIES = 100_000
MAX_DEPTH = 64
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


@dataclass(frozen=True)
class Usage:
    """What one walk found: bytes on disk, entries seen, and whether a bound cut the walk short."""

    bytes: int
    entries: int
    truncated: bool = False


def measure(path: Path, *, max_entries: int = MAX_ENTRIES, max_depth: int = MAX_DEPTH) -> Usage:
    """The disk usage of the tree at ``path`` (see the module docstring); raises OSError if it cannot be opened."""
    total = entries = 0
    linked: set[tuple[int, int]] = set()
    root = os.open(path, _DIR_FLAGS)
    total += os.fstat(root).st_blocks * 512
    # One open directory per level being walked: the fds held are the depth, never the width.
    stack = [(root, os.scandir(root))]
    try:
        while stack:
            dir_fd, listing = stack[-1]
            entry = next(listing, None)
            if entry is None:
                listing.close()
                os.close(dir_fd)
                stack.pop()
                continue
            entries += 1
            if entries > max_entries:
                return Usage(total, entries, truncated=True)
            try:
                info = entry.stat(follow_symlinks=False)
            except OSError:  # gone since it was listed
                continue
            if info.st_nlink > 1 and not stat.S_ISDIR(info.st_mode):
                if (info.st_dev, info.st_ino) in linked:
                    continue
                linked.add((info.st_dev, info.st_ino))
            total += info.st_blocks * 512
            if not stat.S_ISDIR(info.st_mode):
                continue
            if len(stack) >= max_depth:
                return Usage(total, entries, truncated=True)
            try:
                child = os.open(entry.name, _DIR_FLAGS, dir_fd=dir_fd)
            except OSError:  # gone, replaced by a symlink, or unreadable
                continue
            try:
                stack.append((child, os.scandir(child)))
            except OSError:
                os.close(child)
    finally:
        for dir_fd, listing in stack:
            listing.close()
            os.close(dir_fd)
    return Usage(total, entries)


class DiskWatch:
    """Measures one run's work dir at most every CHECK_S (and WALK_SPACING times its own cost)."""

    def __init__(self, path: Path, cap_bytes: int):
        self.path = path
        self.cap = cap_bytes
        self.last: Usage | None = None
        self._next = 0.0

    def due(self, now: float) -> bool:
        return now >= self._next

    def measure(self) -> Usage | None:
        """Walk the work dir now; None if it cannot be opened (then nothing is stopped)."""
        started = time.monotonic()
        try:
            usage = measure(self.path)
        except OSError:
            usage = None
        took = time.monotonic() - started
        self._next = time.monotonic() + max(CHECK_S, WALK_SPACING * took)
        if usage is not None:
            self.last = usage
        return usage

    def over(self, usage: Usage | None) -> str:
        """Why ``usage`` passes the cap ("" if it does not)."""
        if usage is None:
            return ""
        if usage.truncated:
            return (f"the run's work directory passed its disk cap: it holds more than {MAX_ENTRIES} entries "
                    f"or is nested deeper than {MAX_DEPTH} directories")
        if usage.bytes > self.cap:
            return (f"the run's work directory passed its disk cap of {self.cap} bytes "
                    f"({usage.bytes} bytes measured)")
        return ""
