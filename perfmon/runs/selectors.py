"""Reads of runs and their logs, always scoped to a tenant."""

from __future__ import annotations

from collections.abc import Iterator

from perfmon.core.errors import NotFound
from perfmon.core.ids import as_uuid
from perfmon.runs.models import Run, RunLogChunk, RunPart

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


# What the breakdown endpoints (/requests, /errors, /checks, /histogram) read of a run or part.
_BREAKDOWN_FIELDS = ("metrics", "histogram", "requests", "checks")


def run_with_breakdown(tenant, run_id) -> Run:
    """One run of ``tenant`` with its breakdown (requests, checks, histogram) and little else.

    Raises NotFound (also for ids that are not UUIDs).
    """
    pk = as_uuid(run_id)
    fields = ("id", "tenant", "status", "distribution", *_BREAKDOWN_FIELDS)
    run = Run.objects.for_tenant(tenant).only(*fields).filter(pk=pk).first() if pk else None
    if run is None:
        raise NotFound(f"run {run_id} does not exist")
    return run


def part_with_breakdown(tenant, run: Run, index: int) -> RunPart | None:
    """Part ``index`` of the split run ``run`` with its breakdown, or None when it has no such part."""
    return (RunPart.objects.for_tenant(tenant).filter(run=run, index=index)
            .only("id", "run", "index", *_BREAKDOWN_FIELDS).first())


def runs_by_ids(tenant, run_ids) -> list[Run]:
    """The runs of ``tenant`` with these ids, in the order given, in one query (without payloads).

    Raises NotFound naming the first id that is not one of the tenant's runs (or not a UUID).
    """
    pks = [as_uuid(run_id) for run_id in run_ids]
    found = {run.pk: run for run in Run.objects.for_tenant(tenant).defer("script", "histogram", "parameters")
             .filter(pk__in=[pk for pk in pks if pk is not None])}
    for run_id, pk in zip(run_ids, pks, strict=True):
        if pk not in found:
            raise NotFound(f"run {run_id} does not exist")
    return [found[pk] for pk in pks]


def parts_of_run(tenant, run: Run) -> list[RunPart]:
    """The parts of a split run in order (none for a run on one agent)."""
    return list(RunPart.objects.for_tenant(tenant).filter(run=run).order_by("index"))


def log_texts(tenant, run: Run) -> Iterator[str]:
    """The run's log chunks' text in sequence order (a split run: part after part), fetched in batches."""
    return (
        RunLogChunk.objects.for_tenant(tenant)
        .filter(run=run)
        .order_by("part", "seq")
        .values_list("text", flat=True)
        .iterator(chunk_size=LOG_CHUNK_BATCH)
    )

