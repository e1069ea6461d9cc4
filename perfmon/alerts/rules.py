"""How judged runs and agents open, update and resolve alerts.

One unresolved alert per monitor and kind (a partial unique index): a bad
run opens it, later bad runs update it (occurrences, last run, worst
values), and the first passing run resolves every unresolved alert of the
monitor with a recovery notice. An acknowledged alert still counts repeats
but sends nothing until it resolves. A monitor's rules may ask for several
bad runs in a row before alerting, and a maintenance window holds alerts
(runs still happen and are judged; a passing run still resolves).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from perfmon.alerts.models import Alert, AlertKind, AlertState
from perfmon.alerts.notify import notify
from perfmon.monitors import schedule
from perfmon.runs.breaches import describe_all
from perfmon.runs.lifecycle import JUDGED
from perfmon.runs.models import Run, RunStatus

log = logging.getLogger(__name__)

BAD = {RunStatus.FAIL: AlertKind.RUN_FAILED, RunStatus.ERROR: AlertKind.RUN_ERROR}
WORST_KEYS = {"p95_ms": max, "p99_ms": max, "error_rate": max, "apdex": min}
TITLE_LENGTH = Alert._meta.get_field("title").max_length


def in_maintenance(monitor, at: datetime) -> bool:
    """Whether ``at`` falls in one of the monitor's maintenance windows."""
    if monitor.maintenance_start and monitor.maintenance_end and monitor.maintenance_start <= at < monitor.maintenance_end:
        return True
    if monitor.maintenance_cron and monitor.maintenance_minutes:
        length = timedelta(minutes=monitor.maintenance_minutes)
        try:
            # The last window start at or before `at`: the first start after (at - length).
            start = schedule.next_run(monitor.maintenance_cron, monitor.timezone, at - length)
        except schedule.InvalidSchedule:
            return False
        return start <= at
    return False


def _consecutive_bad(monitor, limit: int) -> int:
    recent = (
        Run.all_tenants.filter(monitor=monitor, status__in=JUDGED)
        .order_by("-completed_at", "-created_at").values_list("status", flat=True)[:limit]
    )
    count = 0
    for status in recent:
        if status not in BAD:
            break
        count += 1
    return count


def _worst(details: dict, metrics: dict) -> dict:
    worst = dict(details.get("worst") or {})
    for key, pick in WORST_KEYS.items():
        value = metrics.get(key)
        if value is None:
            continue
        worst[key] = value if key not in worst else pick(worst[key], value)
    return worst


def _title(run: Run, monitor) -> str:
    if run.status == RunStatus.FAIL:
        breached = "; ".join(describe_all(run.breaches, run.thresholds)) or "thresholds breached"
        return f"{monitor.name}: {breached}"[:TITLE_LENGTH]
    return f"{monitor.name}: run errored: {(run.error or 'unknown error')[:200]}"


def on_run_ended(sender, run, **kwargs) -> None:
    """The ``run_ended`` receiver (connected by AlertsConfig.ready)."""
    on_run_finished(run.pk)


def on_run_finished(run_id) -> Alert | None:
    """Apply the alert rules to a run that has just ended; returns the alert it touched."""
    run = Run.all_tenants.select_related("monitor", "tenant").filter(pk=run_id).first()
    if run is None or run.monitor is None or run.status not in JUDGED:
        return None
    monitor = run.monitor
    now = timezone.now()
    with transaction.atomic():
        unresolved = list(
            Alert.all_tenants.select_for_update()
            .filter(monitor=monitor, state__in=AlertState.unresolved())
        )
        if run.status == RunStatus.PASS:
            for alert in unresolved:
                alert.state, alert.resolved_at, alert.last_run = AlertState.RESOLVED, now, run
                alert.save(update_fields=["state", "resolved_at", "last_run", "updated_at"])
                notify(alert, "alert.resolved", run=run)
            return unresolved[0] if unresolved else None

        if in_maintenance(monitor, run.completed_at or now):
            log.info("alert for run %s held: monitor %s is in maintenance", run.pk, monitor.pk)
            return None
        kind = BAD[run.status]
        alert = next((a for a in unresolved if a.kind == kind), None)
        if alert is not None and alert.last_run_id == run.pk:
            return alert  # this run was already counted (rules applied twice)
        if alert is not None:
            alert.occurrences += 1
            alert.last_run = run
            alert.title = _title(run, monitor)
            alert.details = {**alert.details, "worst": _worst(alert.details, run.metrics or {}),
                             "lastError": run.error, "lastBreaches": run.breaches}
            alert.save(update_fields=["occurrences", "last_run", "title", "details", "updated_at"])
            if alert.state == AlertState.OPEN:  # acknowledged: silenced until it resolves
                notify(alert, "alert.updated", run=run)
            return alert
        needed = max(1, monitor.alert_after_failures)
        if needed > 1 and _consecutive_bad(monitor, needed) < needed:
            return None
        try:
            with transaction.atomic():
                alert = Alert.objects.create(
                    tenant=run.tenant, monitor=monitor, kind=kind, title=_title(run, monitor), opened_at=now,
                    first_run=run, last_run=run,
                    details={"worst": _worst({}, run.metrics or {}), "lastError": run.error,
                             "lastBreaches": run.breaches},
                )
        except IntegrityError:
            # Another worker opened it a moment ago: that alert stands.
            return None
        notify(alert, "alert.opened", run=run)
        return alert


def on_agent_status(agent, online: bool) -> Alert | None:
    """Open an alert when a tenant's agent goes offline; resolve it when it returns."""
    if agent.tenant_id is None:
        return None  # shared agents are the operators' (admin), not a tenant's
    now = timezone.now()
    with transaction.atomic():
        unresolved = Alert.all_tenants.select_for_update().filter(
            agent=agent, kind=AlertKind.AGENT_OFFLINE, state__in=AlertState.unresolved()
        ).first()
        if online:
            if unresolved is not None:
                unresolved.state, unresolved.resolved_at = AlertState.RESOLVED, now
                unresolved.save(update_fields=["state", "resolved_at", "updated_at"])
                notify(unresolved, "alert.resolved")
            return unresolved
        if unresolved is not None:
            return unresolved
        try:
            with transaction.atomic():
                alert = Alert.objects.create(
                    tenant_id=agent.tenant_id, agent=agent, kind=AlertKind.AGENT_OFFLINE, opened_at=now,
                    title=f"agent {agent.pk} is offline (last heartbeat {agent.last_heartbeat_at or 'never'})",
                )
        except IntegrityError:
            return None
        notify(alert, "alert.opened")
        return alert
