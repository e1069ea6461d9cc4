"""Reads of runs and their logs, always scoped to a tenant."""

from __future__ import annotations

from collections.abc import Iterator

from perfmon.core.errors import NotFound
from perfmon.core.ids import as_uuid
from perfmon.runs.models import Run, RunLogChunk

# Log chunks fetched per round trip while streaming (server-side cursor on PostgreSQL).
LOG_CHUNK_BATCH = 200


def runs_of_monitor(tenant, monitor):
    """The monitor's runs, newest first (served by the (monitor, -created_at) index).

    The script, histogram and error text are deferred: lists show figures, not payloads.
    """
    return (
        Run.objects.for_tenant(tenant)
        .filter(monitor=monitor)
        .defer("script", "histogram", "parameters")
        .order_by("-created_at", "-id")
    )


def runs_of_tenant(tenant):
    """All the tenant's runs, newest first (served by the (tenant, -created_at) index), without payloads."""
    return (
        Run.objects.for_tenant(tenant)
        .defer("script", "histogram", "parameters")
        .order_by("-created_at", "-id")
    )


def run_for_tenant(tenant, run_id) -> Run:
    """One run of ``tenant``. Raises NotFound (also for ids that are not UUIDs)."""
    pk = as_uuid(run_id)
    run = Run.objects.for_tenant(tenant).defer("script", "histogram").filter(pk=pk).first() if pk else None
    if run is None:
        raise NotFound(f"run {run_id} does not exist")
    return run


def log_texts(tenant, run: Run) -> Iterator[str]:
    """The run's log chunks' text in sequence order, fetched in batches rather than all at once."""
    return (
        RunLogChunk.objects.for_tenant(tenant)
        .filter(run=run)
        .order_by("seq")
        .values_list("text", flat=True)
        .iterator(chunk_size=LOG_CHUNK_BATCH)
    )

