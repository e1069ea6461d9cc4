"""Agents going offline and coming back, as alerts.

Online/offline is derived from the last heartbeat (Agent.status); this pass,
run by beat, turns changes of it into alerts for the agent's tenant. It lives
in alerts, above fleet, so the fleet app knows nothing of alerts.
"""

from __future__ import annotations

from perfmon.alerts.models import Alert, AlertKind, AlertState
from perfmon.alerts.rules import on_agent_status
from perfmon.fleet.models import Agent
from perfmon.fleet.selectors import online_horizon


def check_agents() -> tuple[int, int]:
    """(alerts opened, alerts resolved) in this pass."""
    horizon = online_horizon()
    alerted = set(
        Alert.all_tenants
        .filter(kind=AlertKind.AGENT_OFFLINE, state__in=AlertState.unresolved())
        .values_list("agent_id", flat=True)
    )
    tenant_agents = Agent.all_tenants.filter(tenant__isnull=False, enrolled_at__isnull=False)
    opened = resolved = 0
    for agent in tenant_agents.filter(last_heartbeat_at__lt=horizon).exclude(pk__in=alerted):
        opened += on_agent_status(agent, online=False) is not None
    for agent in tenant_agents.filter(last_heartbeat_at__gte=horizon, pk__in=alerted):
        resolved += on_agent_status(agent, online=True) is not None
    return opened, resolved
