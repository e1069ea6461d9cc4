"""Judging a run when its agent reports the end: pass, fail, error or cancelled.

*fail* means the run executed and breached a threshold; *error* means it
could not be judged (the tool failed, timed out, made no requests, or the
agent could not run it). The thresholds are evaluated with runners' own
code, the same the agent and the CLI use.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from perfmon.fleet.models import Agent
from perfmon.runs import lifecycle
from perfmon.runs.ingest import agent_run, fence_report
from perfmon.runs.models import Run, RunStatus
from runners import thresholds as threshold_rules
from runners.protocol import Outcome, RunReport

log = logging.getLogger(__name__)

_SUMMARY_EXCLUDED = {"histogram", "series", "requests", "checks"}


def _verdict(run: Run, report: RunReport) -> tuple[str, list[dict], str]:
    """(status, breaches, error) for the report."""
    if report.outcome == Outcome.CANCELLED:
        return RunStatus.CANCELLED, [], report.error
    if report.outcome == Outcome.TIMED_OUT:
        return RunStatus.ERROR, [], report.error or "the run exceeded its time limit and was stopped"
    if report.outcome != Outcome.COMPLETED:
        reason = report.error or f"the tool failed (exit code {report.exit_code})"
        return RunStatus.ERROR, [], reason
    if report.result is None or report.result.count == 0:
        return RunStatus.ERROR, [], "the tool completed without making any request"
    try:
        breaches = threshold_rules.evaluate(report.result, run.thresholds, apdex_t_ms=run.apdex_t_ms)
    except ValueError as exc:
        return RunStatus.ERROR, [], f"the thresholds could not be evaluated: {exc}"
    return (RunStatus.FAIL if breaches else RunStatus.PASS), [b.to_dict() for b in breaches], ""


def breakdown(result) -> dict:
    """The per-request fields a run (or part) stores beside its summary: ``requests`` and ``checks``."""
    return {"requests": [entry.to_dict() for entry in result.requests], "checks": result.checks}


def incomplete_streams(report: RunReport, *, series, logs) -> dict:
    """``{"series": [stored, reported], ...}`` for each stream that arrived short of the report's count.

    ``series`` and ``logs`` are the querysets of what is stored for the run
    (or part) reported. The agent posts series and logs before its report,
    in order, so by now everything of them the control plane accepted is stored.
    """
    short = {}
    for key, reported, stored in (("series", report.series_count, series),
                                  ("logs", report.log_chunk_count, logs)):
        if reported is not None and (count := stored.count()) < reported:
            short[key] = [count, reported]
    return short


def finish_run(*, agent: Agent, run_id, report: RunReport) -> Run:
    """Judge and close the claimed run; posting again after it was judged changes nothing.

    Only a running run is judged: the agent claims a run before it runs the
    tool, so a report for a run still queued returns the run as it is, and
    the repeat of the report that judged it returns the stored status. A
    report of another claim, or for a run that ended without a report (agent
    lost, expired), is refused with StaleClaim (``fence_report``) and
    changes nothing. Series or log chunks that the report counts but that
    never arrived are logged and, beside a result, kept as
    ``metrics["incomplete"]`` (docs/agents.md).
    """
    agent_run(agent, run_id)  # NotFound for another agent's run
    with transaction.atomic():
        run = Run.all_tenants.select_for_update().get(pk=run_id)
        fence_report(run, report.claim_id, what=f"run {run.pk}")
        if run.is_final:
            return run
        status, breaches, error = _verdict(run, report)
        if run.cancel_requested_at is not None and status == RunStatus.ERROR:
            status = RunStatus.CANCELLED  # stopped on request: not the tool's fault
        judged = {"breaches": breaches, "error": error, "reported_at": timezone.now()}
        incomplete = incomplete_streams(report, series=run.series, logs=run.log_chunks)
        if incomplete:
            log.warning("run %s: fewer series or log chunks arrived than its report counts "
                        "(stored, reported): %s", run.pk, incomplete)
        if report.result is not None:
            metrics = {key: value for key, value in report.result.to_dict().items() if key not in _SUMMARY_EXCLUDED}
            metrics.update(exit_code=report.exit_code, outcome=str(report.outcome))
            if incomplete:  # beside the summary it qualifies; a run without a result has none to show it
                metrics["incomplete"] = incomplete
            judged.update(metrics=metrics, histogram=report.result.histogram, **breakdown(report.result))
        if lifecycle.judge(run, status, **judged):
            log.info("run %s judged %s", run.pk, run.status)
    return run

