"""Split runs: one run's load spread over several agents, started together, merged exactly.

Placement (``place``) reserves distinct agents and makes one RunPart per
agent, each with its exact share (runners/split.py). Every part is
published to its agent's queue; the agent claims the part, prepares it
(work dir, script, tool) and reports ready (``ready``); once every part is
ready the control plane releases them all with one common start, a moment
``PERFMON_SPLIT_START_LEAD`` seconds ahead, which every ready answer from
then on carries. A part not ready within ``PERFMON_SPLIT_READY_TIMEOUT``
seconds of the run's publication fails the whole run; the parts that were
waiting are released from their reservation (they end ``cancelled`` and
their agents run nothing).

Each part reports its own result (``finish_part``). The run is judged once
every part has ended: its result is ``Result.merge`` of the parts' results
(counts add, min/max are the extremes, percentiles come from the merged HDR
histogram, throughput is over the common wall time), so thresholds, Apdex,
alerts and the CLI judge the whole run. A part that fails or is lost ends
the run ``error`` at once with its reason; the other parts are stopped, and
what they measured is still merged into the run's figures, marked partial.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from fractions import Fraction

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from perfmon.fleet.models import Agent
from perfmon.runs import lifecycle, series
from perfmon.runs.ingest import AlreadyClaimed, RunFinished, fence_report
from perfmon.runs.judge import breakdown, incomplete_streams
from perfmon.runs.models import PartStatus, Run, RunLogChunk, RunPart, RunStatus, SeriesPoint
from runners import thresholds as threshold_rules
from runners.histogram import LatencyHistogram
from runners.protocol import Outcome, RunReport, StartSignal, StartState
from runners.result import Result, _make_result
from runners.split import Split

log = logging.getLogger(__name__)

_RESULT_FIELDS = frozenset(Result.__dataclass_fields__) - {"series", "histogram", "requests", "checks"}


def new_parts(run: Run, placement: list[tuple[Agent, str, Fraction]]) -> list[RunPart]:
    """The unsaved parts of ``run`` for a placement from ``AgentPool.place``."""
    return [
        RunPart(run=run, index=index, agent=agent, location=location or agent.location, share=str(share))
        for index, (agent, location, share) in enumerate(placement)
    ]


def split_of(part: RunPart) -> Split:
    """The part's Split: its index and every part's share, read from its siblings."""
    shares = RunPart.all_tenants.filter(run_id=part.run_id).order_by("index").values_list("share", flat=True)
    return Split(part.index, tuple(Fraction(share) for share in shares))


# --- the agent's side: claim, ready, report ------------------------------------------------------

def claim_part(*, agent: Agent, part: RunPart, claim_id) -> RunPart:
    """queued → preparing for this execution of the agent (the same claim_id may claim again).

    The run leaves queued with its first claimed part. Raises AlreadyClaimed
    for another execution's claim (a redelivered message: it never starts a
    second load) and RunFinished when the part or its run has already ended.
    """
    now = timezone.now()
    run = part.run
    if run.is_final:
        raise RunFinished(f"run {run.pk} has already ended ({run.status})")
    claimed = lifecycle.move_part(part, PartStatus.PREPARING, only_from={PartStatus.QUEUED},
                                  where={"agent": agent}, claim_id=claim_id, claimed_at=now)
    part.refresh_from_db()
    if claimed:
        lifecycle.start_split(run, at=now)
        return part
    if part.claim_id == claim_id and part.status in PartStatus.active():
        return part
    if part.is_final:
        raise RunFinished(f"part {part.index} of run {run.pk} has already ended ({part.status})")
    raise AlreadyClaimed(f"part {part.index} of run {run.pk} was already claimed by another execution")


def ready(*, part: RunPart) -> StartSignal:
    """The part is prepared: wait, or start at the common start once every part is ready.

    Called again by the agent until it is told to start. The first call that
    finds every part ready releases them all with one start moment. Raises
    RunFinished when the run ended (cancelled, failed, or a part never became
    ready in time): the agent then runs nothing.
    """
    run = part.run
    if not run.is_final and run.cancel_requested_at is None:
        lifecycle.move_part(part, PartStatus.READY, only_from={PartStatus.PREPARING}, ready_at=timezone.now())
        part.refresh_from_db()
    if run.is_final or run.cancel_requested_at is not None or part.is_final:
        raise RunFinished(f"run {run.pk} has ended or is being cancelled: part {part.index} does not start")
    if part.status == PartStatus.READY:
        _release_if_all_ready(run)
        part.refresh_from_db()
    if part.status == PartStatus.RUNNING and part.started_at is not None:
        now = timezone.now()
        return StartSignal(StartState.START, start_in_s=max(0.0, (part.started_at - now).total_seconds()),
                           start_at=part.started_at.timestamp())
    if _ready_deadline_passed(run):
        _fail_unready(run)
        raise RunFinished(f"run {run.pk} ended: not every part became ready in time")
    return StartSignal(StartState.WAIT)


def _release_if_all_ready(run: Run) -> None:
    with transaction.atomic():
        locked = Run.all_tenants.select_for_update().get(pk=run.pk)
        parts = list(RunPart.all_tenants.filter(run=locked).values_list("status", flat=True))
        if locked.is_final or any(status != PartStatus.READY for status in parts):
            return
        start_at = timezone.now() + timedelta(seconds=settings.PERFMON_SPLIT_START_LEAD)
        if lifecycle.release_parts(locked, start_at=start_at):
            Run.all_tenants.filter(pk=locked.pk).update(started_at=start_at)
            log.info("run %s: %d parts released to start at %s", locked.pk, len(parts), start_at.isoformat())


def _ready_deadline_passed(run: Run, now=None) -> bool:
    since = run.published_at or run.created_at
    return (now or timezone.now()) > since + timedelta(seconds=settings.PERFMON_SPLIT_READY_TIMEOUT)


def _fail_unready(run: Run) -> bool:
    """End the run in error because some part never became ready; release the others."""
    waiting = list(RunPart.all_tenants.filter(run=run, status__in={PartStatus.QUEUED, PartStatus.PREPARING})
                   .select_related("agent").order_by("index"))
    if not waiting or RunPart.all_tenants.filter(run=run, status=PartStatus.RUNNING).exists():
        return False
    names = ", ".join(f"part {p.index} on agent '{p.agent_id or '?'}' ({p.status})" for p in waiting)
    reason = (f"the split run could not start: {names} did not become ready within "
              f"{settings.PERFMON_SPLIT_READY_TIMEOUT} s")
    if lifecycle.fail_active(run, error=reason):
        lifecycle.stop_parts(run, reason=reason)
        return True
    return False


def _part_status(report: RunReport) -> str:
    if report.outcome == Outcome.COMPLETED:
        return PartStatus.COMPLETED
    if report.outcome == Outcome.CANCELLED:
        return PartStatus.CANCELLED
    return PartStatus.FAILED


def finish_part(*, part: RunPart, report: RunReport) -> Run:
    """Store the part's report; end the run if the part failed, judge it once every part has ended.

    Posting the report that ended the part again changes nothing and answers the run's status. A
    report of another claim, or for a part that ended without one (lost, stopped before it ran), is
    refused with StaleClaim (``fence_report``) and changes nothing either.
    """
    run = part.run
    what = f"part {part.index} of run {run.pk}"
    fence_report(part, report.claim_id, what=what)
    if part.is_final:
        run.refresh_from_db()
        return run
    fields = {"outcome": str(report.outcome), "exit_code": report.exit_code, "error": report.error,
              "reported_at": timezone.now()}
    incomplete = incomplete_streams(
        report, series=SeriesPoint.all_tenants.filter(run_id=part.run_id, part=part.index),
        logs=RunLogChunk.all_tenants.filter(run_id=part.run_id, part=part.index))
    if incomplete:
        log.warning("run %s part %d: fewer series or log chunks arrived than its report counts "
                    "(stored, reported): %s", run.pk, part.index, incomplete)
    if report.result is not None:
        fields["metrics"] = {key: value for key, value in report.result.to_dict().items() if key in _RESULT_FIELDS}
        if incomplete:
            fields["metrics"]["incomplete"] = incomplete
        fields["histogram"] = report.result.histogram
        fields.update(breakdown(report.result))
    status = _part_status(report)
    if not lifecycle.move_part(part, status, **fields):
        part.refresh_from_db()
        fence_report(part, report.claim_id, what=what)  # ended meanwhile: by a report, or refused
        run.refresh_from_db()
        return run
    if status == PartStatus.FAILED:
        agent = part.agent_id or "?"
        reason = f"part {part.index} on agent '{agent}' failed: {report.error or report.outcome}"
        if run.cancel_requested_at is None and lifecycle.fail_active(run, error=reason):
            lifecycle.stop_parts(run, reason=f"stopped: {reason}")
    conclude(run)
    run.refresh_from_db()
    return run


# --- the run's figures and verdict ------------------------------------------------------------

def part_result(part: RunPart) -> Result | None:
    """The part's reported result, or for a part that never reported (lost), one from its stored series."""
    if part.metrics and part.histogram:
        figures = {key: value for key, value in part.metrics.items() if key in _RESULT_FIELDS}
        return Result.from_dict({**figures, "histogram": part.histogram, "series": [],
                                 "requests": part.requests or [], "checks": part.checks or {}})
    return _result_from_series(part)


def _result_from_series(part: RunPart) -> Result | None:
    return streamed_result(part.run_id, part.index, apdex_t_ms=part.run.apdex_t_ms)


def streamed_result(run_id, index: int, *, apdex_t_ms) -> Result | None:
    """What the series points stored for part ``index`` of the run (0: a run of one agent) add up to,
    marked partial: the figures of a run or part whose agent never reported. None without requests."""
    rows = list(SeriesPoint.all_tenants.filter(run_id=run_id, part=index)
                .values_list("start", "interval_s", "covered_s", "count", "errors", "histogram"))
    rows = [row for row in rows if row[3]]
    if not rows:
        return None
    hist = LatencyHistogram.merged(LatencyHistogram.decode(row[5]) for row in rows if row[5])
    count = sum(row[3] for row in rows)
    started = min(row[0] for row in rows).timestamp()
    ended = max(row[0].timestamp() + (row[2] if row[2] is not None else row[1]) for row in rows)
    return _make_result(
        count=count, errors=sum(row[4] for row in rows), min_ms=hist.min_ms, max_ms=hist.max_ms,
        sum_ms=hist.mean_ms * hist.count, started=started, ended=ended, hist=hist, apdex=None,
        apdex_t_ms=float(apdex_t_ms), series=(), partial=True,
    )


def merged_result(run: Run, parts: list[RunPart] | None = None) -> Result | None:
    """The merge of the parts' results; partial when some part has none or is partial itself."""
    parts = parts if parts is not None else list(run.parts.all())
    results = [(part, part_result(part)) for part in parts]
    present = [result for _, result in results if result is not None]
    if not present:
        return None
    merged = Result.merge(*present)
    incomplete = len(present) < len(parts) or any(p.status != PartStatus.COMPLETED for p in parts)
    if incomplete and not merged.partial:
        merged = Result.from_dict({**merged.to_dict(), "partial": True})
    return merged


def conclude(run: Run) -> None:
    """Once every part has ended: store the merged figures and, if the run is still running, judge it."""
    with transaction.atomic():
        run = Run.all_tenants.select_for_update().get(pk=run.pk)
        parts = list(RunPart.all_tenants.filter(run=run).select_related("agent").order_by("index"))
        if any(not part.is_final for part in parts):
            return
        merged = merged_result(run, parts)
        figures = {}
        if merged is not None:
            metrics = {key: value for key, value in merged.to_dict().items()
                       if key not in ("histogram", "series", "requests", "checks")}
            metrics["parts"] = len(parts)
            short = _incomplete_parts(parts)
            if short:
                metrics["incomplete"] = short
            figures = {"metrics": metrics, "histogram": merged.histogram, **breakdown(merged)}
        series.store_merged(run)
        if run.is_final:
            if figures:
                Run.all_tenants.filter(pk=run.pk).update(**figures)
            return
        status, breaches, error = _verdict(run, parts, merged)
        lifecycle.judge(run, status, breaches=breaches, error=error, **figures)
        log.info("split run %s judged %s from %d parts", run.pk, status, len(parts))


def _incomplete_parts(parts: list[RunPart]) -> dict:
    """The parts' short streams added up: ``{"series": [stored, reported], ...}`` (docs/agents.md)."""
    short: dict[str, list[int]] = {}
    for part in parts:
        for key, (stored, reported) in ((part.metrics or {}).get("incomplete") or {}).items():
            total = short.setdefault(key, [0, 0])
            total[0] += stored
            total[1] += reported
    return short


def _verdict(run: Run, parts: list[RunPart], merged: Result | None) -> tuple[str, list, str]:
    if run.cancel_requested_at is not None:
        return RunStatus.CANCELLED, [], ""
    failed = [part for part in parts if part.status != PartStatus.COMPLETED]
    if failed:
        part = failed[0]
        return RunStatus.ERROR, [], f"part {part.index} on agent '{part.agent_id or '?'}' {part.status}: {part.error}"
    if merged is None or merged.count == 0:
        return RunStatus.ERROR, [], "the tool completed without making any request"
    try:
        breaches = threshold_rules.evaluate(merged, run.thresholds, apdex_t_ms=run.apdex_t_ms)
    except ValueError as exc:
        return RunStatus.ERROR, [], f"the thresholds could not be evaluated: {exc}"
    return (RunStatus.FAIL if breaches else RunStatus.PASS), [b.to_dict() for b in breaches], ""


# --- the sweeper's part --------------------------------------------------------------------

def sweep_split_runs(*, now, lost_before) -> tuple[int, int]:
    """End split runs whose parts never became ready in time, and parts whose agent is lost.

    Returns (runs ended unready, parts lost).
    """
    unready = 0
    deadline = now - timedelta(seconds=settings.PERFMON_SPLIT_READY_TIMEOUT)
    waiting = (Run.all_tenants.filter(distribution__isnull=False, status__in=RunStatus.active(),
                                      started_at__isnull=True)
               .exclude(published_at__gte=deadline).filter(created_at__lt=deadline))
    for run in list(waiting[:500]):
        unready += _fail_unready(run)
    lost = 0
    gone = RunPart.all_tenants.filter(
        Q(agent__last_heartbeat_at__lt=lost_before) | Q(agent__isnull=True) | Q(agent__last_heartbeat_at__isnull=True),
        status__in=PartStatus.active() - {PartStatus.QUEUED},
    ).select_related("run")
    for part in list(gone[:500]):
        reason = f"agent '{part.agent_id or '?'}' lost: it stopped sending heartbeats while running part {part.index}"
        if lifecycle.move_part(part, PartStatus.LOST, error=reason, completed_at=now):
            lost += 1
            if lifecycle.fail_active(part.run, error=reason, at=now):
                lifecycle.stop_parts(part.run, reason=f"stopped: {reason}")
            conclude(part.run)
    return unready, lost
