"""Counts for the operators' admin index: what the whole installation is doing, across tenants."""

from __future__ import annotations

from datetime import timedelta

from django import template
from django.db.models import Count, Q
from django.utils import timezone

from perfmon.alerts.models import Alert, AlertState
from perfmon.fleet.models import Agent
from perfmon.fleet.selectors import online_horizon
from perfmon.monitors.models import Monitor
from perfmon.runs.models import Run, RunStatus
from perfmon.tenants.models import Tenant

register = template.Library()


@register.simple_tag
def operator_counts() -> dict:
    """Deliberately unscoped (operators see every tenant); a handful of aggregate queries."""
    since = timezone.now() - timedelta(hours=24)
    monitors = Monitor.all_tenants.aggregate(total=Count("id"), enabled=Count("id", filter=Q(enabled=True)))
    runs = dict(
        Run.all_tenants.filter(created_at__gte=since).values_list("status").annotate(n=Count("id")).order_by()
    )
    agents = Agent.all_tenants.aggregate(
        total=Count("id"), online=Count("id", filter=Q(last_heartbeat_at__gte=online_horizon())),
        drained=Count("id", filter=Q(drained=True)),
    )
    alerts = dict(
        Alert.all_tenants.filter(state__in=AlertState.unresolved())
        .values_list("state").annotate(n=Count("id")).order_by()
    )
    return {
        "tenants": Tenant.objects.filter(is_active=True).count(),
        "monitors": monitors,
        "runs_24h": {status: runs.get(status, 0) for status in RunStatus.values},
        "runs_24h_total": sum(runs.values()),
        "active_runs": sum(runs.get(status, 0) for status in RunStatus.active()),
        "agents": agents,
        "alerts": {"open": alerts.get(AlertState.OPEN, 0), "acknowledged": alerts.get(AlertState.ACKNOWLEDGED, 0)},
    }
