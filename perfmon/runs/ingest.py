"""What agents write about their runs: claims, series, log chunks and results.

A split run's parts are addressed by the part's own id wherever a run id is
taken (``agent_target``); their series and log chunks are stored on the run
under the part's index. Every write is idempotent on (run, part, seq) or on
the run's or part's state, so an agent
that retries a post (it does, from its spool, after any network error)
never duplicates or reorders anything.

Series points are the hot path (docs/agents.md, "Streaming"). A stream post
costs one query to find the agent and its run together (``stream_target``)
and one statement to store the points: on PostgreSQL a COPY straight into
the series table, since nearly every batch is new. A batch that overlaps
what is stored (a retried post whose first answer was lost) makes the COPY
fail on the (run, part, seq) constraint, storing nothing; it is then stored
with one ``INSERT … SELECT FROM unnest(…) ON CONFLICT DO NOTHING``, which
skips the points already there. Either way each point is stored once.
"""

from __future__ import annotations

import logging
import uuid
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from psycopg.errors import UniqueViolation

from perfmon.core import credentials
from perfmon.core.errors import Conflict, NotFound
from perfmon.core.ids import as_uuid
from perfmon.fleet.enrollment import CREDENTIAL_KIND
from perfmon.fleet.models import Agent
from perfmon.runs import lifecycle
from perfmon.runs.models import PartStatus, Run, RunLogChunk, RunPart, RunStatus, SeriesPoint
from runners.result import SeriesPoint as WirePoint

log = logging.getLogger(__name__)

# The series interval agents are told to use: 1 s keeps a short run readable;
# long runs are merged for display (perfmon/runs/series.py), never in storage.
SERIES_INTERVAL_S = 1.0


class RunFinished(Conflict):
    code = "run_finished"


class AlreadyClaimed(Conflict):
    code = "already_claimed"


class StaleClaim(Conflict):
    """A report that must change nothing: another execution's, or for a run (or part) ended without it."""

    code = "stale_claim"


def fence_report(row: Run | RunPart, claim_id: str | None, *, what: str) -> None:
    """Refuse (StaleClaim) a report for the run or part ``row`` that comes too late to count.

    Refused: a report carrying a claim id that is not ``row``'s claim (an
    execution the run was taken from, or one that never had it), and any
    report for a ``row`` that ended without one: its agent lost, expired, or
    cancelled before it ran. A row judged from a report answers that report
    again (an HTTP retry whose first answer was lost), as it does a report
    without a claim id, which agents spooled before reports carried one.
    """
    if claim_id is not None and as_uuid(claim_id) != row.claim_id:
        raise StaleClaim(f"{what} is not claimed by {claim_id}: the report of an execution that does not hold "
                         "its claim changes nothing")
    if row.is_final and row.reported_at is None:
        reason = (getattr(row, "error", "") or getattr(row, "status_reason", "") or row.status)[:300]
        raise StaleClaim(f"{what} already ended {row.status} without a report ({reason}); "
                         "a late report changes nothing")


def agent_run(agent: Agent, run_id) -> Run:
    """The run ``run_id`` if it is assigned to ``agent``. Raises NotFound."""
    try:
        return Run.all_tenants.get(pk=run_id, agent=agent)
    except (Run.DoesNotExist, ValueError, ValidationError):
        raise NotFound(f"run {run_id} is not assigned to agent {agent.pk}") from None


def agent_target(agent: Agent, target_id) -> tuple[Run, RunPart | None]:
    """(run, None) for a run assigned to ``agent``, or (its run, the part) for a part assigned to it.

    Raises NotFound for anything else (another agent's run or part, an id that is no UUID).
    """
    try:
        return agent_run(agent, target_id), None
    except NotFound:
        pass
    try:
        part = RunPart.all_tenants.select_related("run").get(pk=target_id, agent=agent)
    except (RunPart.DoesNotExist, ValueError, ValidationError):
        raise NotFound(f"run {target_id} is not assigned to agent {agent.pk}") from None
    return part.run, part


def claim_run(*, agent: Agent, run_id, claim_id: uuid.UUID) -> Run:
    """Move the run from queued to running for this execution of the agent.

    The same ``claim_id`` may claim again (an HTTP retry). Raises
    AlreadyClaimed when another execution claimed it (a redelivered
    message) and RunFinished when it already ended (cancelled before start).
    """
    run = agent_run(agent, run_id)
    claimed = lifecycle.claim(run, agent=agent, claim_id=claim_id)
    run.refresh_from_db()
    if claimed or (run.claim_id == claim_id and run.status == RunStatus.RUNNING):
        return run
    if run.is_final:
        raise RunFinished(f"run {run.pk} has already ended ({run.status})")
    raise AlreadyClaimed(f"run {run.pk} was already claimed by another execution")


def _is_cancelled(run: Run, part: RunPart | None = None) -> bool:
    return run.is_final or run.cancel_requested_at is not None or (part is not None and part.is_final)


def _closed(run: Run, part: RunPart | None) -> bool:
    """Whether nothing more is stored for the run (or the part): a part keeps streaming after
    its run ended (another part failed), until it has stopped and reported."""
    return part.is_final if part is not None else run.is_final


@dataclass(frozen=True, slots=True)
class StreamTarget:
    """Where a stream post's points or chunks go, and what its answer says.

    ``closed``: nothing more is stored (the run, or the part, has ended);
    ``cancel``: the agent should stop the run.
    """

    agent_id: str
    run_id: uuid.UUID
    part: int
    closed: bool
    cancel: bool


def target_for(agent: Agent, target_id) -> StreamTarget:
    """The StreamTarget of a run or part assigned to ``agent``. Raises NotFound."""
    run, part = agent_target(agent, target_id)
    return StreamTarget(agent_id=agent.pk, run_id=run.pk, part=part.index if part is not None else 0,
                        closed=_closed(run, part), cancel=_is_cancelled(run, part))


def stream_target(credential: str, target_id) -> StreamTarget | None:
    """The agent holding ``credential`` and its run (or part) ``target_id``, found together.

    One query for a run of one agent (the usual stream post), a second for a
    part of a split run. None when the credential is not an agent's or the
    target is not assigned to that agent: the caller then authenticates the
    agent on its own to tell a bad credential (401) from a run not found (404).
    """
    lookup = credentials.lookup_of(credential, CREDENTIAL_KIND)
    target = as_uuid(target_id)
    if lookup is None or target is None:
        return None
    final_runs, final_parts = RunStatus.final(), PartStatus.final()
    row = next(iter(Run.all_tenants.filter(pk=target, agent__credential_lookup=lookup)
                    .values_list("agent_id", "agent__credential_hash", "status", "cancel_requested_at")), None)
    if row is not None:
        agent_id, digest, status, cancel_requested_at = row
        if not credentials.matches(credential, digest):
            return None
        final = status in final_runs
        return StreamTarget(agent_id=agent_id, run_id=target, part=0, closed=final,
                            cancel=final or cancel_requested_at is not None)
    row = next(iter(RunPart.all_tenants.filter(pk=target, agent__credential_lookup=lookup)
                    .values_list("agent_id", "agent__credential_hash", "run_id", "index", "status", "run__status",
                                 "run__cancel_requested_at")), None)
    if row is None:
        return None
    agent_id, digest, run_id, index, status, run_status, cancel_requested_at = row
    if not credentials.matches(credential, digest):
        return None
    part_final = status in final_parts
    return StreamTarget(agent_id=agent_id, run_id=run_id, part=index, closed=part_final,
                        cancel=part_final or run_status in final_runs or cancel_requested_at is not None)


#: the columns of a series row, in the order of the tuples ``series_row`` makes
SERIES_COLUMNS = ("run_id", "part", "seq", "start", "interval_s", "count", "errors", "p50_ms", "p95_ms", "p99_ms",
                  "throughput_rps", "histogram", "covered_s", "p90_ms", "vus")


def series_row(target: StreamTarget, p: WirePoint) -> tuple:
    """A wire point as a row of SERIES_COLUMNS for ``target``."""
    return (target.run_id, target.part, p.seq, datetime.fromtimestamp(p.start, tz=UTC), p.interval_s, p.count,
            p.errors, p.p50_ms, p.p95_ms, p.p99_ms, p.throughput_rps, p.histogram, p.covered_s, p.p90_ms, p.vus)


def store_series(*, agent: Agent, run_id, points: list[WirePoint]) -> tuple[int, bool]:
    """Store the points not stored yet; returns (newly stored, whether to cancel)."""
    target = target_for(agent, run_id)
    return store_series_rows(target, [series_row(target, p) for p in points])


def store_series_rows(target: StreamTarget, rows: list[tuple]) -> tuple[int, bool]:
    """Store the rows (SERIES_COLUMNS, made for ``target``) whose seq is not stored yet.

    Returns (newly stored, whether to cancel). Nothing is stored for a closed target.
    """
    if target.closed or not rows:
        return 0, target.cancel
    if connection.vendor == "postgresql":
        accepted = _copy_series(rows)
    else:
        accepted = _insert_missing(SeriesPoint, target, rows, lambda r: SeriesPoint(
            **dict(zip(SERIES_COLUMNS, r, strict=True))))
    return accepted, target.cancel


def store_log_chunks(*, agent: Agent, run_id, chunks: list[tuple[int, str]]) -> tuple[int, bool]:
    """Store the log chunks not stored yet; returns (newly stored, whether to cancel)."""
    return store_log_rows(target_for(agent, run_id), chunks)


def store_log_rows(target: StreamTarget, chunks: list[tuple[int, str]]) -> tuple[int, bool]:
    """Store ``target``'s (seq, text) chunks not stored yet; returns (newly stored, whether to cancel)."""
    if target.closed or not chunks:
        return 0, target.cancel
    rows = [(target.run_id, target.part, seq, text) for seq, text in chunks]
    accepted = _insert_missing(RunLogChunk, target, rows,
                               lambda r: RunLogChunk(run_id=r[0], part=r[1], seq=r[2], text=r[3]))
    return accepted, target.cancel


def _insert_missing(model, target: StreamTarget, rows: list[tuple], build) -> int:
    """Insert the rows whose seq the run's part does not have yet (portable, idempotent)."""
    seqs = [row[2] for row in rows]
    with transaction.atomic():
        existing = set(
            model.all_tenants.filter(run_id=target.run_id, part=target.part, seq__in=seqs)
            .values_list("seq", flat=True)
        )
        fresh, seen = [], set()
        for row in rows:
            if row[2] not in existing and row[2] not in seen:
                seen.add(row[2])
                fresh.append(build(row))
        model.all_tenants.bulk_create(fresh, ignore_conflicts=True)
    return len(fresh)


_COLUMN_LIST = ", ".join(SERIES_COLUMNS)
#: the columns' types, for COPY's binary format and the unnest arrays
SERIES_TYPES = ("uuid", "int2", "int4", "timestamptz", "float8", "int4", "int4", "float8", "float8", "float8",
                "float8", "text", "float8", "float8", "int4")


def _copy_series(rows: list[tuple]) -> int:
    """COPY the rows straight into the series table; on a seq already stored, merge them instead.

    The COPY is binary (psycopg's dumpers of SERIES_TYPES): PostgreSQL then parses
    no text, about 1.5 times as fast as the text format for these rows.

    A COPY either stores every row or, on the (run, part, seq) constraint,
    none: then one INSERT … SELECT FROM unnest(…) ON CONFLICT DO NOTHING
    stores those not there yet (also the first of seqs repeated in the batch).
    """
    table = SeriesPoint._meta.db_table
    connection.ensure_connection()
    raw = connection.connection  # psycopg 3's own connection: its COPY, and its errors unwrapped
    try:
        # A savepoint when the caller holds a transaction (a failed COPY must not abort it); in
        # autocommit the COPY is its own transaction, and a failed one leaves nothing behind.
        savepoint = transaction.atomic() if connection.in_atomic_block else nullcontext()
        with savepoint, raw.cursor() as cursor, cursor.copy(
                f"COPY {table} ({_COLUMN_LIST}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(SERIES_TYPES)
            for row in rows:
                copy.write_row(row)
        return len(rows)
    except UniqueViolation:
        pass
    arrays = [list(column) for column in zip(*rows, strict=True)]
    unnest = ", ".join(f"%s::{kind}[]" for kind in SERIES_TYPES)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({_COLUMN_LIST}) SELECT * FROM unnest({unnest}) "  # noqa: S608 - constants
            "ON CONFLICT (run_id, part, seq) DO NOTHING",
            arrays,
        )
        return cursor.rowcount
