"""Heartbeats: an agent's host facts and metrics, and which of its runs to stop."""

from __future__ import annotations

from django.db.models import Q
from django.utils import timezone

from perfmon.fleet.enrollment import FACT_FIELDS
from perfmon.fleet.models import Agent, AgentMetricSample
from perfmon.runs.models import Run, RunStatus

METRIC_FIELDS = ("cpu_percent", "memory_percent", "load1", "disk_free_gb")


def record_heartbeat(*, agent: Agent, facts: dict, metrics: dict, running_runs: list[str]) -> list[str]:
    """Store the heartbeat and return the ids of the agent's runs it must cancel.

    Those are the runs a user asked to cancel, and runs the agent says it is
    running that are already final here (expired, or judged while the agent
    was cut off).
    """
    now = timezone.now()
    update = {field: facts[field] for field in FACT_FIELDS if facts.get(field) is not None}
    update.update(last_heartbeat_at=now, last_metrics=metrics, updated_at=now)
    Agent.all_tenants.filter(pk=agent.pk).update(**update)
    AgentMetricSample.all_tenants.create(
        agent=agent, recorded_at=now, running_runs=len(running_runs),
        **{field: metrics.get(field) for field in METRIC_FIELDS},
    )
    cancel = Run.objects.unscoped().filter(agent=agent).filter(
        Q(status__in=RunStatus.active(), cancel_requested_at__isnull=False)
        | Q(pk__in=running_runs, status__in=RunStatus.final())
    )
    return [str(run_id) for run_id in cancel.values_list("pk", flat=True)]
