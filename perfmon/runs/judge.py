"""Judging a run when its agent reports the end: pass, fail, error or cancelled.

*fail* means the run executed and breached a threshold; *error* means it
could not be judged (the tool failed, timed out, made no requests, or the
agent could not run it). The thresholds are evaluated with runners' own
code, the same the agent and the CLI use.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.db import transaction

from perfmon.fleet.models import Agent
from perfmon.runs import lifecycle
from perfmon.runs.ingest import agent_run
from perfmon.runs.models import Run, RunStatus
from runners import thresholds as threshold_rules
from runners.result import Result

log = logging.getLogger(__name__)

OUTCOMES = ("completed", "tool_failed", "cancelled", "timed_out", "agent_error")
_SUMMARY_EXCLUDED = {"histogram", "series"}


@dataclass(frozen=True)
class Report:
    """What the agent says happened."""

    outcome: str
    exit_code: int | None = None
    error: str = ""
    result: Result | None = None
    series_count: int | None = None
    log_chunk_count: int | None = None


def _verdict(run: Run, report: Report) -> tuple[str, list[dict], str]:
    """(status, breaches, error) for the report."""
    if report.outcome == "cancelled":
        return RunStatus.CANCELLED, [], report.error
    if report.outcome == "timed_out":
        return RunStatus.ERROR, [], report.error or "the run exceeded its time limit and was stopped"
    if report.outcome != "completed":
        reason = report.error or f"the tool failed (exit code {report.exit_code})"
        return RunStatus.ERROR, [], reason
    if report.result is None or report.result.count == 0:
        return RunStatus.ERROR, [], "the tool completed without making any request"
    try:
        breaches = threshold_rules.evaluate(report.result, run.thresholds, apdex_t_ms=run.apdex_t_ms)
    except ValueError as exc:
        return RunStatus.ERROR, [], f"the thresholds could not be evaluated: {exc}"
    return (RunStatus.FAIL if breaches else RunStatus.PASS), [b.to_dict() for b in breaches], ""


def finish_run(*, agent: Agent, run_id, report: Report) -> Run:
    """Judge and close the claimed run; posting again after it ended changes nothing.

    Only a running run is judged: the agent claims a run before it runs the
    tool, so a report for a run still queued (or already final) returns the
    run as it is.
    """
    agent_run(agent, run_id)  # NotFound for another agent's run
    with transaction.atomic():
        run = Run.objects.unscoped().select_for_update().get(pk=run_id)
        if run.is_final:
            return run
        status, breaches, error = _verdict(run, report)
        if run.cancel_requested_at is not None and status == RunStatus.ERROR:
            status = RunStatus.CANCELLED  # stopped on request: not the tool's fault
        judged = {"breaches": breaches, "error": error}
        if report.result is not None:
            metrics = {key: value for key, value in report.result.to_dict().items() if key not in _SUMMARY_EXCLUDED}
            metrics.update(exit_code=report.exit_code, outcome=report.outcome)
            judged.update(metrics=metrics, histogram=report.result.histogram)
        if lifecycle.judge(run, status, **judged):
            log.info("run %s judged %s", run.pk, run.status)
    return run

