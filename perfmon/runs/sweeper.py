"""The sweeper: no run is lost or stuck.

Runs every ``PERFMON_SWEEP_INTERVAL`` seconds from beat and
1. publishes queued runs whose message never reached the broker;
2. ends as ``error`` ("agent lost") the active runs of an agent that has
   been offline longer than the grace period, keeping what they streamed:
   their figures are those of the stored series points, marked ``partial``;
   a late report of that agent is then refused (perfmon/runs/ingest.py,
   ``fence_report``);
   (for a split run: the part whose agent was lost ends ``lost`` and the run ``error``;
   runs whose parts did not all become ready in time end ``error``, docs/distributed.md);
3. expires runs that stayed queued longer than ``PERFMON_QUEUED_TIMEOUT``,
   and runs still marked running long past their time limit (with their
   streamed figures, partial, as in 2).
Each step is a conditional update on the run's status, so it is safe beside
agents reporting at the same moment and beside another sweeper.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from perfmon.fleet.selectors import online_horizon
from perfmon.runs import lifecycle
from perfmon.runs.models import Run, RunStatus
from perfmon.runs.parts import streamed_result, sweep_split_runs
from perfmon.runs.services import publish_run

log = logging.getLogger(__name__)

REPUBLISH_BATCH = 500


@dataclass
class SweepReport:
    republished: int = 0
    agent_lost: int = 0
    expired: int = 0


_NOT_SUMMARY = ("histogram", "series", "requests", "checks")


def streamed_figures(run: Run) -> dict:
    """The figures of a run that ends without its agent's report: what its stored series points add
    up to, with ``metrics["partial"]`` true; nothing when it streamed no request."""
    result = streamed_result(run.pk, 0, apdex_t_ms=run.apdex_t_ms)
    if result is None:
        return {}
    metrics = {key: value for key, value in result.to_dict().items() if key not in _NOT_SUMMARY}
    return {"metrics": metrics, "histogram": result.histogram}


def _end_runs(candidates, now: datetime, error: str, *, measured: bool = False) -> int:
    """End the candidate runs in error (those still active when updated); each end is announced.

    ``measured``: the runs were started, and keep the figures of what they streamed.
    """
    ended = 0
    for run in list(candidates[:REPUBLISH_BATCH]):
        figures = streamed_figures(run) if measured else {}
        ended += lifecycle.fail_active(run, error=error, at=now, **figures)
    return ended


def sweep(*, now: datetime | None = None) -> SweepReport:
    """One pass of the sweeper; see the module docstring."""
    now = now or timezone.now()
    report = SweepReport()
    runs = Run.all_tenants

    unpublished = runs.filter(Q(agent__isnull=False) | Q(distribution__isnull=False)).filter(
        status=RunStatus.QUEUED, published_at__isnull=True,
        created_at__lt=now - timedelta(seconds=settings.PERFMON_REPUBLISH_AFTER),
    ).values_list("pk", flat=True)[:REPUBLISH_BATCH]
    report.republished = sum(publish_run(run_id) for run_id in list(unpublished))

    lost_before = online_horizon() - timedelta(seconds=settings.PERFMON_AGENT_LOST_GRACE)
    report.agent_lost = _end_runs(
        runs.filter(
            Q(agent__last_heartbeat_at__lt=lost_before) | Q(agent__last_heartbeat_at__isnull=True),
            status__in=RunStatus.active(), claimed_at__isnull=False, distribution__isnull=True,
        ),
        now, "agent lost: the agent stopped sending heartbeats while the run was active", measured=True,
    )
    unready, lost_parts = sweep_split_runs(now=now, lost_before=lost_before)
    report.expired += unready
    report.agent_lost += lost_parts
    queued_limit = now - timedelta(seconds=settings.PERFMON_QUEUED_TIMEOUT)
    report.expired += _end_runs(
        runs.filter(status=RunStatus.QUEUED, claimed_at__isnull=True, created_at__lt=queued_limit),
        now, f"expired: no agent started the run within {settings.PERFMON_QUEUED_TIMEOUT} s",
    )
    # Twice the time limit: the agent kills the tool at the limit and reports.
    running_limit = now - timedelta(seconds=2 * settings.PERFMON_RUN_TIME_LIMIT)
    report.expired += _end_runs(
        runs.filter(status=RunStatus.RUNNING, claimed_at__lt=running_limit),
        now, "expired: the agent never reported the end of the run", measured=True,
    )
    if report.republished or report.agent_lost or report.expired:
        log.info("sweep: %s", report)
    return report
