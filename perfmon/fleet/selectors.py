"""Reads of agents: visibility per tenant and the choice of an agent for a run."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db.models import Count, Q
from django.utils import timezone

from perfmon.fleet.models import Agent
from perfmon.runs.models import RunStatus


def online_horizon():
    """Agents whose last heartbeat is at or after this instant are online."""
    return timezone.now() - timedelta(seconds=settings.PERFMON_AGENT_OFFLINE_AFTER)


def agents_for_tenant(tenant):
    """The tenant's own agents and the shared ones."""
    return Agent.objects.for_tenant(tenant)


def _with_load(queryset):
    return queryset.annotate(active_runs=Count("runs", filter=Q(runs__status__in=RunStatus.active())))


def choose_agent(*, tenant, tool: str, pinned=None, location: str = "") -> tuple[Agent | None, str]:
    """The agent a run of ``tool`` should go to, or (None, the reason in words).

    The monitor's pinned agent, else an online agent of its location, else
    an online agent of the tenant, then a shared one; each must be in
    service (not drained) and have the tool. Among those, agents with free
    capacity come first, least busy first; when all are busy the run waits
    in the least busy one's queue (agents take one run per free slot).
    """
    live = _with_load(Agent.objects.for_tenant(tenant).filter(last_heartbeat_at__gte=online_horizon()))
    if pinned is not None:
        groups, where = [live.filter(pk=pinned.pk)], f"pinned agent '{pinned.pk}'"
    elif location:
        groups, where = [live.filter(location=location)], f"location '{location}'"
    else:
        groups = [live.filter(tenant=tenant), live.filter(tenant__isnull=True)]
        where = "this tenant's or the shared agents"

    seen_online = seen_in_service = False
    for group in groups:
        candidates = []
        for agent in group.order_by("active_runs", "id"):
            seen_online = True
            if agent.drained:
                continue
            seen_in_service = True
            if tool in (agent.tools or {}):
                candidates.append(agent)
        if candidates:
            free = [agent for agent in candidates if agent.active_runs < agent.capacity]
            return (free or candidates)[0], ""
    if not seen_online:
        return None, f"no agent available: no online agent among {where}"
    if not seen_in_service:
        return None, f"no agent available: every online agent among {where} is drained"
    return None, f"no agent available: no online agent among {where} has {tool} installed"
