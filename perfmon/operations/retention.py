"""Retention: deleting old history in bounded batches.

Per tenant (TenantSettings, else the PERFMON_RETENTION_* defaults, each
capped by the license tier's PERFMON_TIER_MAX_RETENTION_DAYS):

* series points and log chunks of runs created before the series cutoff
  (default 30 days): the bulk of the data;
* runs created before the run cutoff (default 400 days): their summary
  (status, metrics, breaches) outlives their series;
* resolved alerts resolved before the alert cutoff (default 400 days).

Every delete takes at most PERFMON_RETENTION_BATCH rows by primary key in its
own short transaction, so it never holds long locks or bloats one transaction;
one pass stops after PERFMON_RETENTION_MAX_BATCHES batches and the next pass
(beat, hourly by default) continues. Safe to run twice at once: a row deleted
by the other pass is simply not there.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from perfmon.alerts.models import Alert, AlertState
from perfmon.operations.models import TenantSettings
from perfmon.runs.models import Run, RunLogChunk, RunStatus, SeriesPoint
from perfmon.tenants.models import Tenant
from perfmon.tenants.services import effective_license

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Policy:
    """How many days a tenant's data is kept (after defaults and the tier cap)."""

    series_days: int
    run_days: int
    alert_days: int


@dataclass
class Outcome:
    """Rows deleted by one pass, by kind; ``complete`` is False when the batch budget ran out."""

    series: int = 0
    logs: int = 0
    runs: int = 0
    alerts: int = 0
    batches: int = 0
    complete: bool = True
    tenants: dict = field(default_factory=dict)


def tenant_settings(tenant: Tenant) -> TenantSettings:
    """The tenant's settings row, created empty (server defaults) on first use."""
    row, _ = TenantSettings.all_tenants.get_or_create(tenant=tenant)
    return row


def policy_for(tenant: Tenant, row: TenantSettings | None = None) -> Policy:
    """The effective retention of ``tenant``: its own choice or the default, capped by its tier."""
    row = row if row is not None else TenantSettings.objects.for_tenant(tenant).first()
    cap = settings.PERFMON_TIER_MAX_RETENTION_DAYS.get(effective_license(tenant).tier)

    def days(own: int | None, default: int) -> int:
        value = own or default
        return min(value, int(cap)) if cap else value

    run_days = days(row and row.run_retention_days, settings.PERFMON_RETENTION_RUNS_DAYS)
    # Series and logs never outlive their run's summary.
    series_days = min(days(row and row.series_retention_days, settings.PERFMON_RETENTION_SERIES_DAYS), run_days)
    alert_days = days(row and row.alert_retention_days, settings.PERFMON_RETENTION_ALERTS_DAYS)
    return Policy(series_days=series_days, run_days=run_days, alert_days=alert_days)


class _Budget:
    def __init__(self, batches: int) -> None:
        self.left = batches

    def take(self) -> bool:
        if self.left <= 0:
            return False
        self.left -= 1
        return True


def _delete_in_batches(queryset_of_ids, model, budget: _Budget, batch: int, outcome: Outcome) -> int:
    """Delete the rows whose pk ``queryset_of_ids`` yields, ``batch`` at a time; returns how many."""
    deleted = 0
    while True:
        if not budget.take():
            outcome.complete = False
            return deleted
        outcome.batches += 1
        with transaction.atomic():
            ids = list(queryset_of_ids[:batch])
            if ids:
                count, _ = model.all_tenants.filter(pk__in=ids).delete()
                deleted += len(ids)
        if len(ids) < batch:
            return deleted


def purge_tenant(tenant: Tenant, *, now: datetime, budget: _Budget, outcome: Outcome) -> None:
    policy = policy_for(tenant)
    batch = settings.PERFMON_RETENTION_BATCH
    series_cutoff = now - timedelta(days=policy.series_days)
    run_cutoff = now - timedelta(days=policy.run_days)
    alert_cutoff = now - timedelta(days=policy.alert_days)
    # Only ended runs lose their detail: an active run is never touched, however old.
    ended = list(RunStatus.final())
    series = SeriesPoint.objects.for_tenant(tenant).filter(
        run__created_at__lt=series_cutoff, run__status__in=ended).order_by().values_list("pk", flat=True)
    logs = RunLogChunk.objects.for_tenant(tenant).filter(
        run__created_at__lt=series_cutoff, run__status__in=ended).order_by().values_list("pk", flat=True)
    runs = Run.objects.for_tenant(tenant).filter(
        created_at__lt=run_cutoff, status__in=ended).order_by().values_list("pk", flat=True)
    alerts = Alert.objects.for_tenant(tenant).filter(
        state=AlertState.RESOLVED, resolved_at__lt=alert_cutoff).order_by().values_list("pk", flat=True)
    done = {
        "series": _delete_in_batches(series, SeriesPoint, budget, batch, outcome),
        "logs": _delete_in_batches(logs, RunLogChunk, budget, batch, outcome),
    }
    # A run's remaining series/logs go with it (cascade), in the same bounded batch.
    done["runs"] = _delete_in_batches(runs, Run, budget, batch, outcome)
    done["alerts"] = _delete_in_batches(alerts, Alert, budget, batch, outcome)
    for kind, count in done.items():
        setattr(outcome, kind, getattr(outcome, kind) + count)
    if any(done.values()):
        outcome.tenants[tenant.slug] = done


def purge(*, now: datetime | None = None, max_batches: int | None = None) -> Outcome:
    """One retention pass over every tenant. Returns what it deleted."""
    now = now or timezone.now()
    budget = _Budget(max_batches if max_batches is not None else settings.PERFMON_RETENTION_MAX_BATCHES)
    outcome = Outcome()
    for tenant in Tenant.objects.order_by("pk").iterator():
        purge_tenant(tenant, now=now, budget=budget, outcome=outcome)
        if budget.left <= 0:
            outcome.complete = False
            break
    log.info("retention: deleted %s series points, %s log chunks, %s runs, %s alerts in %s batches%s",
             outcome.series, outcome.logs, outcome.runs, outcome.alerts, outcome.batches,
             "" if outcome.complete else " (budget used up; the next pass continues)")
    return outcome
