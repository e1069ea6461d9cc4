"""Reads of monitors, always scoped to a tenant."""

from __future__ import annotations

from perfmon.core.errors import NotFound
from perfmon.core.ids import as_uuid
from perfmon.monitors.models import Monitor


def monitors_for_tenant(tenant):
    """The tenant's monitors by name, with their test's tool but without loading the scripts."""
    return Monitor.objects.for_tenant(tenant).select_related("test").defer("test__script")


def monitor_for_tenant(tenant, monitor_id, *, with_script: bool = False) -> Monitor:
    """One monitor of ``tenant``. Raises NotFound (also for ids that are not UUIDs)."""
    pk = as_uuid(monitor_id)
    queryset = Monitor.objects.for_tenant(tenant).select_related("test")
    if not with_script:
        queryset = queryset.defer("test__script")
    monitor = queryset.filter(pk=pk).first() if pk else None
    if monitor is None:
        raise NotFound(f"monitor {monitor_id} does not exist")
    return monitor


def monitor_count(tenant) -> int:
    """How many monitors the tenant has (enabled or not): what its license limit counts."""
    return Monitor.objects.for_tenant(tenant).count()
