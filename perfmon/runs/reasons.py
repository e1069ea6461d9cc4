"""Why a run ended as it did, in one sentence: what both APIs and the CLI's reports show as ``reason``."""

from __future__ import annotations

from perfmon.runs.breaches import describe_all
from perfmon.runs.models import Run, RunStatus


def run_reason(run: Run) -> str | None:
    """Why ``run`` has its status; None for a pass and for an active run nobody asked to stop.

    error: what crashed (the tool's exit code and message, no agent, the agent lost, the time limit);
    fail: the breached thresholds; skipped and cancelled: why, and by whom; queued or running: a
    pending cancellation request.
    """
    if run.status == RunStatus.PASS:
        # A pass may still carry a cancellation request that came too late: it is not why it passed.
        return None
    if run.status == RunStatus.FAIL and not run.error:
        # In the same words as the dashboard and the alert titles (with unit and percentile).
        described = "; ".join(describe_all(run.breaches, run.thresholds))
        return f"thresholds breached: {described}" if described else "thresholds breached"
    reason = run.error or run.status_reason
    if reason:
        return reason
    if run.status == RunStatus.ERROR:
        return "the run errored without a recorded cause"
    return None
