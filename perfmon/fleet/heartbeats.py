"""Heartbeats: an agent's host facts and metrics.

Which of its runs the agent must stop (the heartbeat's answer) is
perfmon/runs/agents.py's ``runs_to_stop``.
"""

from __future__ import annotations

from django.utils import timezone

from perfmon.fleet.enrollment import FACT_FIELDS
from perfmon.fleet.models import Agent, AgentMetricSample

METRIC_FIELDS = ("cpu_percent", "memory_percent", "load1", "disk_free_gb")


def record_heartbeat(*, agent: Agent, facts: dict, metrics: dict, running_runs: list[str]) -> None:
    """Store the heartbeat: the host facts it reports, its metrics as one sample, and the agent's last contact."""
    now = timezone.now()
    update = {field: facts[field] for field in FACT_FIELDS if facts.get(field) is not None}
    update.update(last_heartbeat_at=now, last_metrics=metrics, updated_at=now)
    Agent.all_tenants.filter(pk=agent.pk).update(**update)
    AgentMetricSample.all_tenants.create(
        agent=agent, recorded_at=now, running_runs=len(running_runs),
        **{field: metrics.get(field) for field in METRIC_FIELDS},
    )
