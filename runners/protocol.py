"""The wire contract between the control plane and its agents.

Both sides import this module and nothing else of each other: task and
queue names, and the payloads that cross the broker. Names are stable
strings because they live in Redis and in beat rows; renaming one orphans
queued messages. The broker carries only ids: the agent fetches the script
and parameters over authenticated HTTP after claiming the run, so neither
secrets nor scripts sit in Redis.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

SCHEMA_VERSION = 1

# Celery task names.
EXECUTE_RUN = "perfmon.agent.execute_run"
DISPATCH_DUE = "perfmon.monitors.dispatch_due"
SWEEP_RUNS = "perfmon.runs.sweep"
MARK_AGENTS_OFFLINE = "perfmon.fleet.mark_offline"

# The control plane's own queue; each agent consumes only `agent.<id>`.
CONTROL_QUEUE = "perfmon"
AGENT_QUEUE_PREFIX = "agent."


def agent_queue(agent_id: str) -> str:
    """The queue an agent consumes (``agent.eu-west-1``)."""
    return f"{AGENT_QUEUE_PREFIX}{agent_id}"


class ProtocolError(ValueError):
    """A payload does not match this schema version."""


@dataclass(frozen=True)
class RunAssignment:
    """The message published to ``agent.<id>``: which run to claim, with which tool."""

    run_id: str
    agent_id: str
    tool: str
    time_limit_s: int
    version: int = SCHEMA_VERSION

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> RunAssignment:
        if not isinstance(data, dict):
            raise ProtocolError("a run assignment is a JSON object")
        version = data.get("version")
        if version != SCHEMA_VERSION:
            raise ProtocolError(f"run assignment schema version {version!r} is not {SCHEMA_VERSION}")
        try:
            return cls(
                run_id=str(data["run_id"]),
                agent_id=str(data["agent_id"]),
                tool=str(data["tool"]),
                time_limit_s=int(data["time_limit_s"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ProtocolError(f"malformed run assignment: {exc}") from None
