"""The agent's configuration file: what enrollment gave it and how it runs.

One JSON file per agent (several agents on one host each have their own,
chosen with ``--config``). It holds the agent credential, so it is written
atomically with mode 0600 from the start (never world-readable, not even
for a moment) and the agent refuses to use a file others can read.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import stat
import tempfile
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path

from runners.adapters import TOOLS

CONFIG_ENV = "PERFMON_AGENT_CONFIG"
FORMAT_VERSION = 1

# Cloud metadata services, which hand out the host's cloud credentials: link-local IPv4
# (169.254.169.254 on AWS, GCP, Azure and others; 169.254.170.2 for ECS task credentials)
# and AWS's IPv6 endpoint. A test script has no business reaching them.
DEFAULT_EGRESS_DENY_IPS = ("169.254.0.0/16", "fd00:ec2::254/128")
DEFAULT_EGRESS_DENY_HOSTNAMES = ("metadata.google.internal", "metadata.goog")

# A host name pattern as k6's --block-hostnames takes it: an optional leading "*" (matching
# any prefix, e.g. "*.example.com"), then DNS labels; "*" alone blocks every host name.
_LABEL = r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
_HOSTNAME_PATTERN = re.compile(rf"\*|(\*\.?)?{_LABEL}(\.{_LABEL})*", re.ASCII)


class ConfigError(Exception):
    """The config file is missing, unreadable, unsafe or malformed; the message says which."""


def default_config_path() -> Path:
    """``$PERFMON_AGENT_CONFIG``, else ``~/.config/perfmon/agent.json``."""
    explicit = os.environ.get(CONFIG_ENV)
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "perfmon" / "agent.json"


def default_data_dir(agent_id: str) -> Path:
    """Where an agent keeps its spool and work dirs unless told otherwise.

    Root (a system service or a container): /var/lib/perfmon-agent/<id>;
    anyone else: ~/.local/state/perfmon/agent-<id>.
    """
    if os.geteuid() == 0:
        return Path("/var/lib/perfmon-agent") / agent_id
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "perfmon" / f"agent-{agent_id}"


@dataclass
class AgentConfig:
    """Everything ``perfmon-agent run`` needs. Paths are absolute strings."""

    server_url: str
    agent_id: str
    credential: str
    broker_url: str
    queue: str
    work_root: str
    spool_dir: str
    broker_transport_options: dict = field(default_factory=dict)
    heartbeat_interval_s: float = 5.0
    capacity: int = 1
    name: str = ""
    location: str = ""
    # Tools run as this OS user when set (the agent must be root). Root agents
    # default to "nobody": a test script never runs with the agent's rights.
    run_as_user: str = ""
    # Explicit executables ({"k6": "/opt/k6/k6"}) and extra directories searched first.
    tool_paths: dict = field(default_factory=dict)
    tool_dirs: list = field(default_factory=list)
    # The tools this agent offers (empty: every tool it finds).
    enabled_tools: list = field(default_factory=list)
    # Captured tool output per run (stdout + stderr); past it a marker and nothing more.
    output_cap_bytes: int = 10 * 1024 * 1024
    # What one run's work dir may hold on disk (agents/workdir.py); past it the run is stopped
    # and ends error. k6's raw JSON output, the largest writer, takes about 5 KB per request:
    # 8 GiB holds some 1.6 million requests, a whole 30-minute run (the default time limit)
    # at about 900 requests/s.
    work_cap_bytes: int = 8 * 1024 * 1024 * 1024
    # Addresses (CIDRs, or single addresses) and host name patterns the tools that can be
    # restricted (k6) must not connect to; [] turns a list off (docs/agent-install.md, "Egress").
    egress_deny_ips: list = field(default_factory=lambda: list(DEFAULT_EGRESS_DENY_IPS))
    egress_deny_hostnames: list = field(default_factory=lambda: list(DEFAULT_EGRESS_DENY_HOSTNAMES))
    # Request names a run's per-request breakdown keeps apart; later names count as "other".
    max_request_names: int = 300
    # SIGTERM: runs may finish within this many seconds, then they are stopped and reported.
    shutdown_grace_s: float = 60.0
    # After the worker stopped: how long the reporter may keep sending the spool.
    shutdown_flush_s: float = 15.0
    spool_max_bytes: int = 512 * 1024 * 1024
    retry_initial_backoff_s: float = 0.5
    retry_max_backoff_s: float = 30.0
    http_timeout_s: float = 30.0
    ca_bundle: str = ""
    # How often the tool's output is read for series points and log chunks.
    stream_interval_s: float = 1.0
    # How often the reporter sends what was spooled: one series post (and one log post) per run
    # per interval, carrying every point spooled since (docs/agents.md, "Streaming").
    flush_interval_s: float = 2.0
    version: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        problems = []
        for name in ("server_url", "agent_id", "credential", "broker_url", "queue", "work_root", "spool_dir"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                problems.append(f"{name} is missing")
        if not isinstance(self.capacity, int) or self.capacity < 1:
            problems.append(f"capacity must be an integer >= 1, got {self.capacity!r}")
        for name in ("heartbeat_interval_s", "shutdown_grace_s", "stream_interval_s", "retry_max_backoff_s",
                     "flush_interval_s"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or value <= 0:
                problems.append(f"{name} must be a number > 0, got {value!r}")
        if not isinstance(self.output_cap_bytes, int) or self.output_cap_bytes < 1024:
            problems.append(f"output_cap_bytes must be an integer >= 1024, got {self.output_cap_bytes!r}")
        if (not isinstance(self.work_cap_bytes, int) or isinstance(self.work_cap_bytes, bool)
                or self.work_cap_bytes < 1024 * 1024):
            problems.append(f"work_cap_bytes must be an integer >= 1048576, got {self.work_cap_bytes!r}")
        if (not isinstance(self.max_request_names, int) or isinstance(self.max_request_names, bool)
                or not 1 <= self.max_request_names <= 10_000):
            problems.append(f"max_request_names must be an integer from 1 to 10000, got {self.max_request_names!r}")
        unknown = set(self.enabled_tools or []) - set(TOOLS)
        if not isinstance(self.enabled_tools, list) or unknown:
            problems.append(f"enabled_tools must list tools among {', '.join(TOOLS)}")
        if not isinstance(self.broker_transport_options, dict):
            problems.append("broker_transport_options must be an object")
        problems += self._check_egress()
        if problems:
            raise ConfigError("invalid agent config: " + "; ".join(problems))
        self.server_url = self.server_url.rstrip("/")

    def _check_egress(self) -> list[str]:
        """Problems of the egress deny lists; normalises them (CIDRs in canonical form, host names lower case)."""
        problems = []
        if not isinstance(self.egress_deny_ips, list):
            problems.append("egress_deny_ips must be a list of CIDRs such as \"169.254.0.0/16\"")
        else:
            networks = []
            for entry in self.egress_deny_ips:
                try:
                    # strict=False: "169.254.169.254/16" means 169.254.0.0/16, as k6 reads it.
                    networks.append(str(ipaddress.ip_network(entry.strip(), strict=False)))
                except (AttributeError, ValueError):
                    problems.append(f"egress_deny_ips: {entry!r} is not an IPv4 or IPv6 CIDR "
                                    f"(such as \"169.254.0.0/16\" or \"fd00:ec2::254/128\")")
            self.egress_deny_ips = networks
        if not isinstance(self.egress_deny_hostnames, list):
            problems.append("egress_deny_hostnames must be a list of host names such as \"metadata.goog\"")
        else:
            names = []
            for entry in self.egress_deny_hostnames:
                name = entry.strip().lower() if isinstance(entry, str) else None
                if name is None or not _HOSTNAME_PATTERN.fullmatch(name) or len(name) > 253:
                    problems.append(f"egress_deny_hostnames: {entry!r} is not a host name or a pattern "
                                    f"with one leading wildcard (such as \"*.internal\")")
                else:
                    names.append(name)
            self.egress_deny_hostnames = names
        return problems

    @property
    def running_dir(self) -> Path:
        """Markers of the runs in progress (reported as lost after a crash)."""
        return Path(self.spool_dir) / "running"

    def effective_run_as(self) -> str:
        """The user tools run as: run_as_user, else "nobody" for a root agent, else "" (ourselves)."""
        if self.run_as_user:
            return self.run_as_user
        return "nobody" if os.geteuid() == 0 else ""

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> AgentConfig:
        if not isinstance(data, dict):
            raise ConfigError("invalid agent config: expected a JSON object")
        known = {f.name for f in fields(cls)}
        # Required text fields default to "" so __post_init__ lists every missing one by name.
        required = {f.name: "" for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING}
        try:
            return cls(**{**required, **{k: v for k, v in data.items() if k in known}})
        except TypeError as exc:
            raise ConfigError(f"invalid agent config: {exc}") from None


def load(path: Path) -> AgentConfig:
    """Read the config at ``path``.

    Raises ConfigError when it is missing (with the enroll hint), readable
    by group or others, not JSON, or incomplete.
    """
    path = Path(path)
    try:
        info = path.stat()
    except FileNotFoundError:
        raise ConfigError(
            f"{path} does not exist: enroll this agent first "
            f"(perfmon-agent --config {path} enroll --server URL --token TOKEN)"
        ) from None
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            f"{path} is accessible by other users (mode {stat.S_IMODE(info.st_mode):04o}); "
            f"it holds the agent credential: chmod 600 {path}"
        )
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    return AgentConfig.from_dict(data)


def save(config: AgentConfig, path: Path) -> None:
    """Write ``config`` to ``path`` atomically, mode 0600, creating its directory (0700).

    The temporary file is created 0600 by mkstemp, fsync'd, then renamed
    over ``path``, so a crash leaves the old or the new file, never a mix,
    and the credential is never readable by others.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as handle:
            os.fchmod(handle.fileno(), 0o600)
            json.dump(config.to_dict(), handle, indent=2, sort_keys=True)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
