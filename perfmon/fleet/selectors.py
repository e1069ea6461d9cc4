"""Reads of agents: visibility per tenant and the choice of an agent for a run."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db.models import Count, Q
from django.utils import timezone

from perfmon.core.errors import NotFound
from perfmon.fleet.models import Agent, AgentMetricSample
from perfmon.runs.models import Run, RunStatus


def online_horizon():
    """Agents whose last heartbeat is at or after this instant are online."""
    return timezone.now() - timedelta(seconds=settings.PERFMON_AGENT_OFFLINE_AFTER)


def agents_for_tenant(tenant):
    """The tenant's own agents and the shared ones."""
    return Agent.objects.for_tenant(tenant)


class AgentPool:
    """Online agents and their load, read once per tenant and kept current as runs are assigned.

    The scheduler tick assigns hundreds of runs per transaction; reading the
    candidates once per tenant instead of once per run is what lets one tick
    keep up with thousands of monitors.
    """

    def __init__(self) -> None:
        self._live: dict = {}

    def _agents(self, tenant) -> list[Agent]:
        if tenant.pk not in self._live:
            self._live[tenant.pk] = list(
                Agent.objects.for_tenant(tenant)
                .filter(last_heartbeat_at__gte=online_horizon())
                .annotate(active_runs=Count("runs", filter=Q(runs__status__in=RunStatus.active())))
                .order_by("id")
            )
        return self._live[tenant.pk]

    def choose(self, *, tenant, tool: str, pinned=None, location: str = "") -> tuple[Agent | None, str]:
        """The agent a run of ``tool`` should go to, or (None, the reason in words).

        The monitor's pinned agent, else an online agent of its location,
        else an online agent of the tenant, then a shared one; each must be
        in service (not drained) and have the tool. Among those, agents with
        free capacity come first, least busy first; when all are busy the run
        waits in the least busy one's queue (agents take one run per free slot).
        """
        live = self._agents(tenant)
        if pinned is not None:
            groups, where = [[a for a in live if a.pk == pinned.pk]], f"pinned agent '{pinned.pk}'"
        elif location:
            groups, where = [[a for a in live if a.location == location]], f"location '{location}'"
        else:
            groups = [[a for a in live if a.tenant_id == tenant.pk], [a for a in live if a.tenant_id is None]]
            where = "this tenant's or the shared agents"

        seen_online = seen_in_service = False
        for group in groups:
            seen_online = seen_online or bool(group)
            in_service = [agent for agent in group if not agent.drained]
            seen_in_service = seen_in_service or bool(in_service)
            candidates = sorted((a for a in in_service if tool in (a.tools or {})), key=lambda a: a.active_runs)
            if candidates:
                free = [agent for agent in candidates if agent.active_runs < agent.capacity]
                chosen = (free or candidates)[0]
                chosen.active_runs += 1
                return chosen, ""
        if not seen_online:
            return None, f"no agent available: no online agent among {where}"
        if not seen_in_service:
            return None, f"no agent available: every online agent among {where} is drained"
        return None, f"no agent available: no online agent among {where} has {tool} installed"


def choose_agent(*, tenant, tool: str, pinned=None, location: str = "") -> tuple[Agent | None, str]:
    """One run's agent (see AgentPool.choose)."""
    return AgentPool().choose(tenant=tenant, tool=tool, pinned=pinned, location=location)


def agent_visible_to(tenant, agent_id: str) -> Agent:
    """The tenant's own or a shared agent. Raises NotFound."""
    try:
        return Agent.objects.for_tenant(tenant).get(pk=agent_id)
    except (Agent.DoesNotExist, ValueError):
        raise NotFound(f"agent '{agent_id}' does not exist") from None


def recent_samples(tenant, agent: Agent, *, limit: int):
    """The agent's latest host metric samples, newest first (host-wide figures)."""
    return AgentMetricSample.objects.for_tenant(tenant).filter(agent=agent).order_by("-recorded_at")[:limit]


def run_counts(tenant, agent: Agent, *, since) -> dict[str, int]:
    """How many of the tenant's runs the agent took since ``since``, by status (only statuses seen)."""
    rows = (
        Run.objects.for_tenant(tenant).filter(agent=agent, created_at__gte=since)
        .values("status").annotate(n=Count("id")).order_by()
    )
    return {row["status"]: row["n"] for row in rows}
