"""What agents write about their runs: claims, series, log chunks and results.

Every write is idempotent on (run, seq) or on the run's state, so an agent
that retries a post (it does, from its spool, after any network error)
never duplicates or reorders anything. Series points are the hot path: on
PostgreSQL they are loaded with COPY into a staging table and merged with
ON CONFLICT DO NOTHING, which is about twice as fast as ORM inserts.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime

from django.core.exceptions import ValidationError
from django.db import connection, transaction

from perfmon.core.errors import Conflict, NotFound
from perfmon.fleet.models import Agent
from perfmon.runs import lifecycle
from perfmon.runs.models import Run, RunLogChunk, RunStatus, SeriesPoint
from runners.result import SeriesPoint as WirePoint

log = logging.getLogger(__name__)

# The series interval agents are told to use: 1 s keeps a short run readable;
# long runs are merged for display (perfmon/runs/series.py), never in storage.
SERIES_INTERVAL_S = 1.0


class RunFinished(Conflict):
    code = "run_finished"


class AlreadyClaimed(Conflict):
    code = "already_claimed"


def agent_run(agent: Agent, run_id) -> Run:
    """The run ``run_id`` if it is assigned to ``agent``. Raises NotFound."""
    try:
        return Run.all_tenants.get(pk=run_id, agent=agent)
    except (Run.DoesNotExist, ValueError, ValidationError):
        raise NotFound(f"run {run_id} is not assigned to agent {agent.pk}") from None


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


def _is_cancelled(run: Run) -> bool:
    return run.is_final or run.cancel_requested_at is not None


def store_series(*, agent: Agent, run_id, points: list[WirePoint]) -> tuple[int, bool]:
    """Store the points not stored yet; returns (newly stored, whether to cancel)."""
    run = agent_run(agent, run_id)
    if run.is_final or not points:
        return 0, _is_cancelled(run)
    rows = [
        (run.pk, p.seq, datetime.fromtimestamp(p.start, tz=UTC), p.interval_s, p.count, p.errors,
         p.p50_ms, p.p95_ms, p.p99_ms, p.throughput_rps, p.histogram, p.covered_s)
        for p in points
    ]
    if connection.vendor == "postgresql":
        accepted = _copy_series(rows)
    else:
        accepted = _insert_missing(SeriesPoint, run, rows, lambda r: SeriesPoint(
            run_id=r[0], seq=r[1], start=r[2], interval_s=r[3], count=r[4], errors=r[5], p50_ms=r[6],
            p95_ms=r[7], p99_ms=r[8], throughput_rps=r[9], histogram=r[10], covered_s=r[11]))
    return accepted, _is_cancelled(run)


def store_log_chunks(*, agent: Agent, run_id, chunks: list[tuple[int, str]]) -> tuple[int, bool]:
    """Store the log chunks not stored yet; returns (newly stored, whether to cancel)."""
    run = agent_run(agent, run_id)
    if run.is_final or not chunks:
        return 0, _is_cancelled(run)
    rows = [(run.pk, seq, text) for seq, text in chunks]
    accepted = _insert_missing(RunLogChunk, run, rows, lambda r: RunLogChunk(run_id=r[0], seq=r[1], text=r[2]))
    return accepted, _is_cancelled(run)


def _insert_missing(model, run: Run, rows: list[tuple], build) -> int:
    """Insert the rows whose seq the run does not have yet (portable, idempotent)."""
    seqs = [row[1] for row in rows]
    with transaction.atomic():
        existing = set(
            model.all_tenants.filter(run=run, seq__in=seqs).values_list("seq", flat=True)
        )
        fresh, seen = [], set()
        for row in rows:
            if row[1] not in existing and row[1] not in seen:
                seen.add(row[1])
                fresh.append(build(row))
        model.all_tenants.bulk_create(fresh, ignore_conflicts=True)
    return len(fresh)


_SERIES_COLUMNS = (
    "run_id, seq, start, interval_s, count, errors, p50_ms, p95_ms, p99_ms, throughput_rps, histogram, covered_s"
)


def _copy_series(rows: list[tuple]) -> int:
    """COPY the rows into a staging table and merge them, skipping (run, seq) already stored."""
    table = SeriesPoint._meta.db_table
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE IF NOT EXISTS series_staging (run_id uuid, seq integer, start timestamptz, "
            "interval_s double precision, count integer, errors integer, p50_ms double precision, "
            "p95_ms double precision, p99_ms double precision, throughput_rps double precision, histogram text, "
            "covered_s double precision) ON COMMIT DELETE ROWS"
        )
        raw = cursor.cursor  # the psycopg 3 cursor under Django's wrapper
        with raw.copy(f"COPY series_staging ({_SERIES_COLUMNS}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        cursor.execute(
            f"INSERT INTO {table} ({_SERIES_COLUMNS}) "  # noqa: S608 - identifiers are constants
            f"SELECT DISTINCT ON (run_id, seq) {_SERIES_COLUMNS} FROM series_staging "
            f"ON CONFLICT (run_id, seq) DO NOTHING"
        )
        return cursor.rowcount
