"""The wire contract between the control plane and its agents.

Both sides import this module and nothing else of each other: task and
queue names, the payload that crosses the broker (RunAssignment) and the
two documents of the agent API that carry a run (docs/agents.md): the
claim's answer (ClaimAnswer) and the run's final report (RunReport). Names
are stable strings because they live in Redis and in beat rows; renaming
one orphans queued messages. The broker carries only ids: the agent fetches
the script and parameters over authenticated HTTP after claiming the run,
so neither secrets nor scripts sit in Redis.

Every ``from_dict`` raises ProtocolError, naming the field, for anything it
cannot read; nothing is filled in with a guess. A claim answer or run
report without ``version`` is read as version 1: reports an agent spooled
before the field existed are still on disk after an upgrade. (The run
assignment has carried its version from the start and still requires it.)
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

from runners.errors import InvalidSpec, ParseError
from runners.result import Result
from runners.split import Split

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
    """A payload does not match this schema version.

    ``field`` names the offending key when there is one (None: the document
    as a whole); ``reason`` is the message without it, and ``str(err)``
    carries both, so the message alone is enough for a log line.
    """

    def __init__(self, reason: str, field: str | None = None):
        self.reason = reason
        self.field = field
        super().__init__(f"{field}: {reason}" if field else reason)


class Outcome(StrEnum):
    """How a run ended on its agent, as the agent's report says; the control plane judges it."""

    COMPLETED = "completed"  # the tool ran to its end and exited as its adapter counts success
    TOOL_FAILED = "tool_failed"  # the tool failed, or its output could not be read
    CANCELLED = "cancelled"  # stopped on the control plane's request
    TIMED_OUT = "timed_out"  # stopped at the run's time limit
    AGENT_ERROR = "agent_error"  # the agent could not run it (no such tool, shut down, lost, ...)


# The most characters of a report's ``error`` (the agent cuts its messages to it).
MAX_ERROR_CHARS = 4000


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


# -- reading documents ---------------------------------------------------------------------

def _document(data: Any, what: str) -> dict:
    if not isinstance(data, dict):
        raise ProtocolError(f"a {what} is a JSON object, not {type(data).__name__}")
    version = data.get("version", 1)
    if version != SCHEMA_VERSION:
        raise ProtocolError(f"{what} schema version {version!r} is not {SCHEMA_VERSION}", "version")
    return data


def _required(data: dict, key: str) -> Any:
    if key not in data:
        raise ProtocolError("is required", key)
    return data[key]


def _str(value: Any, key: str, *, max_chars: int | None = None) -> str:
    if not isinstance(value, str):
        raise ProtocolError(f"must be a string, not {type(value).__name__}", key)
    if max_chars is not None and len(value) > max_chars:
        raise ProtocolError(f"must be at most {max_chars} characters, not {len(value)}", key)
    return value


def _int(value: Any, key: str, *, minimum: int | None = None, optional: bool = False) -> int | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ProtocolError(f"must be a whole number, not {value!r}", key)
    if minimum is not None and value < minimum:
        raise ProtocolError(f"must be at least {minimum}, not {value}", key)
    return value


def _positive_number(value: Any, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ProtocolError(f"must be a positive number, not {value!r}", key)
    return float(value)


def _object(value: Any, key: str) -> dict:
    if not isinstance(value, dict):
        raise ProtocolError(f"must be an object, not {type(value).__name__}", key)
    return value


# -- the agent API's documents ---------------------------------------------------------------

@dataclass(frozen=True)
class ClaimAnswer:
    """What ``POST /runs/{id}/claim`` answers: everything the agent needs to run the claimed run.

    ``script_filename`` is the name the script is saved under ("" for the
    adapter's default); ``thresholds`` are the run's own (the control plane
    judges them); ``interval_s`` is the series interval to measure in.
    """

    run_id: str
    tool: str
    script: str
    script_filename: str
    parameters: dict[str, str]
    thresholds: dict
    apdex_t_ms: int
    time_limit_s: int
    interval_s: float
    # A part of a split run: runners.split.Split.to_dict() (this part's index, every part's share).
    # The agent then reports ready and waits for the start signal before starting the tool.
    split: dict | None = None
    version: int = SCHEMA_VERSION

    def to_dict(self) -> dict:
        return asdict(self)

    def part(self) -> Split | None:
        """The split this claim runs a part of, or None."""
        return Split.from_dict(self.split) if self.split is not None else None

    @classmethod
    def from_dict(cls, data: Any) -> ClaimAnswer:
        """Read a claim answer; raises ProtocolError for a missing or malformed field."""
        data = _document(data, "claim answer")
        parameters = _object(_required(data, "parameters"), "parameters")
        for name, value in parameters.items():
            _str(value, f"parameters.{name}")
        return cls(
            run_id=_str(_required(data, "run_id"), "run_id"),
            tool=_str(_required(data, "tool"), "tool"),
            script=_str(_required(data, "script"), "script"),
            script_filename=_str(_required(data, "script_filename"), "script_filename"),
            parameters=dict(parameters),
            thresholds=dict(_object(_required(data, "thresholds"), "thresholds")),
            apdex_t_ms=_int(_required(data, "apdex_t_ms"), "apdex_t_ms", minimum=1),
            time_limit_s=_int(_required(data, "time_limit_s"), "time_limit_s", minimum=1),
            interval_s=_positive_number(_required(data, "interval_s"), "interval_s"),
            split=_split(data.get("split")),
        )


def _split(value: Any) -> dict | None:
    if value is None:
        return None
    try:
        return Split.from_dict(value).to_dict()
    except InvalidSpec as exc:
        raise ProtocolError(str(exc), "split") from None


class StartState(StrEnum):
    WAIT = "wait"  # not every part is ready yet: ask again shortly
    START = "start"  # every part is ready: start the tool in ``start_in_s`` seconds


@dataclass(frozen=True)
class StartSignal:
    """What ``POST /runs/{id}/ready`` answers a part of a split run.

    ``start_in_s`` counts from when the answer was sent, so agents whose
    clocks disagree still start together (within the network's latency);
    ``start_at`` is the same moment in the control plane's epoch seconds.
    """

    state: StartState
    start_in_s: float | None = None
    start_at: float | None = None
    version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        object.__setattr__(self, "state", StartState(self.state))

    def to_dict(self) -> dict:
        return {"version": self.version, "state": self.state.value, "start_in_s": self.start_in_s,
                "start_at": self.start_at}

    @classmethod
    def from_dict(cls, data: Any) -> StartSignal:
        data = _document(data, "start signal")
        state = _required(data, "state")
        if state not in tuple(StartState):
            raise ProtocolError(f"{state!r} is not one of {', '.join(StartState)}", "state")
        if state == StartState.WAIT:
            return cls(StartState.WAIT)
        start_in = _required(data, "start_in_s")
        if isinstance(start_in, bool) or not isinstance(start_in, int | float) or start_in < 0:
            raise ProtocolError(f"must be a number of seconds from 0, not {start_in!r}", "start_in_s")
        start_at = data.get("start_at")
        return cls(StartState.START, float(start_in), None if start_at is None else float(start_at))


@dataclass(frozen=True)
class RunReport:
    """What the agent posts to ``/runs/{id}/result`` when a claimed run has ended, whatever ended it.

    ``error`` says why for every outcome but completed. ``result`` is None
    when the tool produced nothing. ``series_count`` and ``log_chunk_count``
    are how many series points and log chunks the run produced (numbered
    from 0), sent or not, so the control plane can tell whether all of them
    arrived; None when the agent does not know. ``claim_id`` is the claim of
    the execution that ran it (the id it claimed the run with): the control
    plane refuses a report whose claim is no longer the run's, so a late
    report of an execution the run was taken from changes nothing. None in
    reports spooled by agents from before it existed.
    """

    outcome: Outcome
    exit_code: int | None = None
    error: str = ""
    result: Result | None = None
    series_count: int | None = None
    log_chunk_count: int | None = None
    claim_id: str | None = None
    version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        object.__setattr__(self, "outcome", Outcome(self.outcome))  # ValueError for a name not in Outcome

    def to_dict(self) -> dict:
        return {
            "version": self.version,
            "outcome": self.outcome.value,
            "exit_code": self.exit_code,
            "error": self.error,
            "result": self.result.to_dict() if self.result is not None else None,
            "series_count": self.series_count,
            "log_chunk_count": self.log_chunk_count,
            "claim_id": self.claim_id,
        }

    @classmethod
    def from_dict(cls, data: Any) -> RunReport:
        """Read a run report; raises ProtocolError for a missing or malformed field.

        Only ``outcome`` is required: reports spooled by earlier agents may
        lack the rest (and ``version``, and ``claim_id``).
        """
        data = _document(data, "run report")
        outcome = _required(data, "outcome")
        if outcome not in tuple(Outcome):
            raise ProtocolError(f"{outcome!r} is not one of {', '.join(Outcome)}", "outcome")
        result = data.get("result")
        if result is not None:
            try:
                result = Result.from_dict(result)
            except ParseError as exc:
                raise ProtocolError(str(exc), "result") from None
        return cls(
            outcome=Outcome(outcome),
            exit_code=_int(data.get("exit_code"), "exit_code", optional=True),
            error=_str(data.get("error", ""), "error", max_chars=MAX_ERROR_CHARS),
            result=result,
            series_count=_int(data.get("series_count"), "series_count", minimum=0, optional=True),
            log_chunk_count=_int(data.get("log_chunk_count"), "log_chunk_count", minimum=0, optional=True),
            claim_id=_claim_id(data.get("claim_id")),
        )


def _claim_id(value: Any) -> str | None:
    """A report's claim id in its canonical form (lowercase, hyphenated), or None when absent."""
    if value is None:
        return None
    text = _str(value, "claim_id", max_chars=64)
    try:
        return str(uuid.UUID(text))
    except ValueError:
        raise ProtocolError(f"must be a UUID, not {value!r}", "claim_id") from None
