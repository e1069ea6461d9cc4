"""The scheduler tick: claim due monitors in batches and dispatch their runs.

Beat calls ``perfmon.monitors.dispatch_due`` every few seconds (the task's
name predates the tick's move to runs, which owns every run's creation; it
stays, because beat rows and queued messages carry it). Each batch
locks up to ``batch_size`` due monitors with ``FOR UPDATE SKIP LOCKED`` (on
PostgreSQL; SQLite serialises writers anyway), so several control-plane
workers can tick at once and a monitor is dispatched once per due time. The
new ``next_run_at`` is computed from *now*, not from the old due time: after
an outage each overdue monitor runs once, and the fire times it missed are
recorded as one skipped run instead of being replayed.

Dispatching ahead (``ahead_s``, the beat task passes PERFMON_DISPATCH_AHEAD):
creating ten thousand runs takes seconds, so a tick that only looked at what
is due would publish the last of a busy minute's runs that late. The tick
also claims the monitors that fall due within the next ``ahead_s`` seconds
and have no active run, creates their runs (queued, ``scheduled_for`` and
``created_at`` their due time) and advances their ``next_run_at`` past it;
after commit a publisher thread serialises their messages, waits for the due
instant and sends them in one pipeline. A monitor still busy is left for the
tick at its due time, which skips or runs it as before. If the worker dies
before the instant, the runs stay unpublished and the sweeper publishes them
PERFMON_REPUBLISH_AFTER seconds after their due time (it counts from
``created_at``).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from perfmon.monitors import schedule
from perfmon.monitors.models import Monitor
from perfmon.runs import lifecycle
from perfmon.runs.agents import AgentPool
from perfmon.runs.bulk import PreparedRows
from perfmon.runs.models import Run, RunPart, RunStatus, RunTrigger
from perfmon.runs.publishing import PublishBuffer, publish_assignments
from perfmon.runs.services import assignment, choose_for, mark_published, new_run

log = logging.getLogger(__name__)

MAX_MISSED_COUNTED = 1000
BUSY = "skipped: the previous run was still queued or running"


@dataclass
class TickReport:
    dispatched: int = 0
    skipped: int = 0
    missed: int = 0
    errors: list[str] = field(default_factory=list)


def dispatch_due(*, now: datetime | None = None, batch_size: int | None = None, ahead_s: float = 0.0) -> TickReport:
    """Dispatch every monitor due at ``now`` (default: the current time), and with ``ahead_s`` > 0
    prepare the runs of those due within that many seconds, published at their due time."""
    now = now or timezone.now()
    batch_size = batch_size or settings.PERFMON_DISPATCH_BATCH
    report = TickReport()
    while _dispatch_batch(now, batch_size, report) == batch_size:
        pass
    if ahead_s > 0:
        horizon, held = now + timedelta(seconds=ahead_s), {}
        while _dispatch_ahead_batch(now, horizon, batch_size, report, held) == batch_size:
            pass
        # One publisher per due instant for the whole tick: its messages go out as one pipeline.
        for at, (messages, queued) in held.items():
            if messages:
                _publish_later(messages, queued, at)
    if report.dispatched or report.skipped:
        log.info("tick: %d dispatched, %d skipped, %d missed", report.dispatched, report.skipped, report.missed)
    return report


def _dispatch_batch(now: datetime, batch_size: int, report: TickReport) -> int:
    with transaction.atomic():
        due = list(
            Monitor.all_tenants
            .select_for_update(skip_locked=True, of=("self",))
            .select_related("test", "tenant", "agent")
            .filter(enabled=True, next_run_at__lte=now)
            .order_by("next_run_at")[:batch_size]
        )
        if not due:
            return 0
        busy = set(
            Run.all_tenants
            .filter(monitor__in=due, status__in=RunStatus.active())
            .values_list("monitor_id", flat=True)
        )
        pool, runs = AgentPool(), []
        for monitor in due:
            runs.extend(_runs_for(monitor, now, busy, pool, report))
        raced = _insert(runs, timezone.now())
        report.dispatched -= raced
        report.skipped += raced
        _advance(due, now)
        _after_insert(runs)
    return len(due)


def _dispatch_ahead_batch(now: datetime, horizon: datetime, batch_size: int, report: TickReport,
                          held: dict) -> int:
    """Claim up to ``batch_size`` idle monitors due in (now, horizon] and create their runs ahead;
    once committed, their messages join ``held`` (due instant → (messages, run ids))."""
    with transaction.atomic():
        # The unique partial index of one active run per monitor answers this subquery.
        active = Run.all_tenants.filter(monitor__isnull=False, status__in=RunStatus.active()).values("monitor_id")
        due = list(
            Monitor.all_tenants
            .select_for_update(skip_locked=True, of=("self",))
            .select_related("test", "tenant", "agent")
            .filter(enabled=True, next_run_at__gt=now, next_run_at__lte=horizon)
            .exclude(pk__in=active)
            .order_by("next_run_at")[:batch_size]
        )
        if not due:
            return 0
        pool, by_instant = AgentPool(), {}
        for monitor in due:
            due_at = monitor.next_run_at
            try:
                monitor.next_run_at = schedule.next_run_memo(monitor.schedule, monitor.timezone, due_at)
            except schedule.InvalidSchedule as exc:
                monitor.next_run_at = None
                report.errors.append(f"{monitor.pk}: {exc}")
                log.warning("monitor %s has an unusable schedule: %s", monitor.pk, exc)
                continue
            monitor.updated_at = now
            run = new_run(tenant=monitor.tenant, monitor=monitor, test=None, trigger=RunTrigger.SCHEDULE,
                          scheduled_for=due_at)
            choose_for(run, monitor, pool)
            by_instant.setdefault(due_at, []).append(run)
            report.dispatched += 1
        for due_at, runs in by_instant.items():
            raced = _insert(runs, due_at)
            report.dispatched -= raced
            report.skipped += raced
        _advance(due, now)
        for due_at, runs in by_instant.items():
            _after_insert(runs, held=held.setdefault(due_at, ([], [])))
    return len(due)


def _advance(due: list[Monitor], now: datetime) -> None:
    """Store the monitors' new next_run_at: one UPDATE per distinct next time (a handful per batch)."""
    groups: dict = {}
    for monitor in due:
        groups.setdefault(monitor.next_run_at, []).append(monitor.pk)
    for next_run_at, ids in groups.items():
        Monitor.all_tenants.filter(pk__in=ids).update(next_run_at=next_run_at, updated_at=now)


def _after_insert(runs: list[Run], held: tuple[list, list] | None = None) -> None:
    """Store split runs' parts, announce runs created in error, publish the queued ones after commit
    (with ``held``: add them to those lists after commit instead, to be published later)."""
    RunPart.all_tenants.bulk_create(
        [part for run in runs if run.status == RunStatus.QUEUED for part in getattr(run, "pending_parts", ())]
    )
    for run in runs:
        if run.status == RunStatus.ERROR:
            lifecycle.ended(run)
    messages, queued = [], []
    for run in runs:
        if run.status != RunStatus.QUEUED:
            continue
        if run.agent_id:
            messages.append(assignment(run.pk, run.agent_id, run.tool))
        else:
            messages.extend(assignment(part.pk, part.agent_id, run.tool) for part in getattr(run, "pending_parts", ()))
        queued.append(run.pk)
    if queued and held is not None:
        transaction.on_commit(lambda: (held[0].extend(messages), held[1].extend(queued)))
    elif queued:
        transaction.on_commit(lambda: _publish(messages, queued))


def _publish(messages: list, queued: list) -> None:
    """One pipelined publish of the batch's messages; published_at for all its runs if the broker took them."""
    if publish_assignments(messages) == len(messages):
        mark_published(queued)


#: how long before its instant a held publish takes a broker connection and serialises its messages:
#: a second, and the time serialising takes on a busy small machine (about 0.3 ms a message)
HOLD_LEAD_S = 1.0
HOLD_LEAD_PER_MESSAGE_S = 0.0006


def _publish_later(messages: list, queued: list, at: datetime) -> threading.Thread | None:
    """Publish the messages at ``at`` from a thread of their own (at once if it has passed)."""
    if (at - timezone.now()).total_seconds() <= 0:
        _publish(messages, queued)
        return None
    thread = threading.Thread(target=_held_publish, args=(messages, queued, at), daemon=True,
                              name=f"publish-at-{at:%H%M%S}")
    thread.start()
    return thread


def _sleep_until(at: datetime) -> None:
    while (left := (at - timezone.now()).total_seconds()) > 0:
        time.sleep(min(left, 1.0))


def _held_publish(messages: list, queued: list, at: datetime) -> None:
    """Serialise the messages shortly before ``at``, send them at it; unsent ones are the sweeper's."""
    from django.db import connection

    try:
        _sleep_until(at - timedelta(seconds=HOLD_LEAD_S + HOLD_LEAD_PER_MESSAGE_S * len(messages)))
        with PublishBuffer(hold=True, max_buffered=len(messages)) as buffer:
            for message in messages:
                buffer.add(message)
            _sleep_until(at)
            buffer.send()
        mark_published(queued)
    except Exception as exc:  # the broker's or the database's errors: the sweeper publishes what is left
        log.warning("publishing %d run(s) due at %s failed: %s", len(messages), at.isoformat(), exc)
    finally:
        connection.close()


def _insert(runs: list[Run], now: datetime) -> int:
    """Insert the batch's runs in one statement; one by one if a manual run raced in meanwhile.

    Returns how many queued runs were stored as skipped instead, because their
    monitor got a manual run between the busy check and this insert.
    """
    try:
        with transaction.atomic():
            PreparedRows(runs).insert(now)
        return 0
    except IntegrityError:
        raced = 0
        for run in runs:
            run._state.adding = True
            try:
                with transaction.atomic():
                    run.save(force_insert=True)
            except IntegrityError:
                # A manual run of this monitor started between our check and insert.
                lifecycle.created_final(run, RunStatus.SKIPPED, reason=BUSY, at=run.created_at or timezone.now())
                run.save(force_insert=True)
                raced += 1
        return raced


def _skipped(monitor: Monitor, now: datetime, scheduled_for: datetime, reason: str) -> Run:
    run = Run(tenant=monitor.tenant, monitor=monitor, test=monitor.test, tool=monitor.test.tool,
              trigger=RunTrigger.SCHEDULE, scheduled_for=scheduled_for)
    return lifecycle.created_final(run, RunStatus.SKIPPED, reason=reason, at=now)


def _runs_for(monitor: Monitor, now: datetime, busy: set, pool: AgentPool, report: TickReport) -> list[Run]:
    """The runs one due monitor gets this tick (unsaved), with its next_run_at advanced."""
    due_at = monitor.next_run_at
    try:
        # Memoised per (schedule, zone, minute): monitors sharing a cron share one croniter step.
        first = schedule.next_run_memo(monitor.schedule, monitor.timezone, due_at)
        missed = [] if first > now else schedule.fire_times(
            monitor.schedule, monitor.timezone, due_at, now, MAX_MISSED_COUNTED)
        monitor.next_run_at = schedule.next_run_memo(monitor.schedule, monitor.timezone, now)
    except schedule.InvalidSchedule as exc:
        # A schedule that cannot fire (stored before validation tightened):
        # park the monitor instead of failing the whole tick.
        monitor.next_run_at = None
        report.errors.append(f"{monitor.pk}: {exc}")
        log.warning("monitor %s has an unusable schedule: %s", monitor.pk, exc)
        return []
    monitor.updated_at = now
    scheduled_for = missed[-1] if missed else due_at
    runs = []
    if missed:
        report.missed += len(missed)
        runs.append(_skipped(monitor, now, due_at, (
            f"missed {len(missed)} scheduled run(s) from {due_at:%Y-%m-%d %H:%M} UTC while the "
            f"scheduler was not running; ran once at {now:%H:%M:%S} UTC instead"
        )))
    if monitor.pk in busy:
        report.skipped += 1
        runs.append(_skipped(monitor, now, scheduled_for, BUSY))
        return runs
    run = new_run(
        tenant=monitor.tenant, monitor=monitor, test=None, trigger=RunTrigger.SCHEDULE, scheduled_for=scheduled_for
    )
    choose_for(run, monitor, pool)
    runs.append(run)
    report.dispatched += 1
    return runs
