"""Reads of alerts, always scoped to a tenant."""

from __future__ import annotations

from perfmon.alerts.models import Alert
from perfmon.core.errors import NotFound
from perfmon.core.ids import as_uuid


def alerts_for_tenant(tenant, *, monitor=None, state: str | None = None, since=None, until=None):
    """The tenant's alerts, newest first (served by the (tenant, -opened_at) and (monitor, -opened_at) indexes),
    optionally only those opened in [since, until)."""
    queryset = Alert.objects.for_tenant(tenant)
    if since is not None:
        queryset = queryset.filter(opened_at__gte=since)
    if until is not None:
        queryset = queryset.filter(opened_at__lt=until)
    if monitor is not None:
        queryset = queryset.filter(monitor=monitor)
    if state:
        queryset = queryset.filter(state=state)
    return queryset.order_by("-opened_at", "-id")


def alert_for_tenant(tenant, alert_id) -> Alert:
    """One alert of ``tenant``. Raises NotFound (also for ids that are not UUIDs)."""
    pk = as_uuid(alert_id)
    alert = Alert.objects.for_tenant(tenant).filter(pk=pk).first() if pk else None
    if alert is None:
        raise NotFound(f"alert {alert_id} does not exist")
    return alert
