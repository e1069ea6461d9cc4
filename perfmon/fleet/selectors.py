"""Reads of agents: visibility per tenant, liveness and host metrics.

Which agent takes a run, and what agents mean for runs, is perfmon/runs/agents.py's.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from perfmon.core.errors import NotFound
from perfmon.fleet.models import Agent, AgentMetricSample


def online_horizon():
    """Agents whose last heartbeat is at or after this instant are online."""
    return timezone.now() - timedelta(seconds=settings.PERFMON_AGENT_OFFLINE_AFTER)


def agents_for_tenant(tenant):
    """The tenant's own agents and the shared ones."""
    return Agent.objects.for_tenant(tenant)


def agent_visible_to(tenant, agent_id: str) -> Agent:
    """The tenant's own or a shared agent. Raises NotFound."""
    try:
        return Agent.objects.for_tenant(tenant).get(pk=agent_id)
    except (Agent.DoesNotExist, ValueError):
        raise NotFound(f"agent '{agent_id}' does not exist") from None


def recent_samples(tenant, agent: Agent, *, limit: int):
    """The agent's latest host metric samples, newest first (host-wide figures)."""
    return AgentMetricSample.objects.for_tenant(tenant).filter(agent=agent).order_by("-recorded_at")[:limit]


def known_locations(tenant) -> set[str]:
    """The locations of the agents ``tenant`` may use (its own and the shared ones), online or not."""
    return set(
        Agent.objects.for_tenant(tenant).exclude(location="").values_list("location", flat=True).distinct()
    )
