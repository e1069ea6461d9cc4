"""Every write that creates, dispatches or cancels a run.

One path for every trigger: the scheduler tick, a manual run on /api and a
task on /api/v1 all call ``request_run``. The run is created and its agent
chosen in one transaction; the message to the agent's queue is published
only after commit, so an agent never receives a run the database doesn't
have. If the broker is down at that moment, the run stays queued with no
``published_at`` and the sweeper publishes it later.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from perfmon.core.errors import Conflict, NotFound, ValidationFailed
from perfmon.core.ids import as_uuid
from perfmon.monitors.models import Monitor
from perfmon.runs import lifecycle, parts, publishing
from perfmon.runs.agents import AgentPool
from perfmon.runs.models import PartStatus, Run, RunPart, RunStatus, RunTrigger
from runners.protocol import RunAssignment

log = logging.getLogger(__name__)

UNSET = object()  # new_run/request_run: no distribution given, the test's applies


def new_run(*, tenant, monitor, test, trigger, scheduled_for=None, distribution=UNSET) -> Run:
    """An unsaved queued run with the script, parameters, thresholds and distribution copied from its
    definition (``distribution`` given: that one instead)."""
    if monitor is not None:
        test = monitor.test
        parameters = {**(test.parameters or {}), **(monitor.parameters or {})}
        thresholds, apdex_t_ms = monitor.thresholds or {}, monitor.apdex_t_ms
    else:
        parameters, thresholds, apdex_t_ms = dict(test.parameters or {}), {}, 500
    if distribution is UNSET:
        distribution = test.distribution
    return Run(
        distribution=distribution or None,
        tenant=tenant,
        monitor=monitor,
        test=test,
        trigger=trigger,
        scheduled_for=scheduled_for,
        tool=test.tool,
        script=test.script,
        parameters=parameters,
        thresholds=thresholds,
        apdex_t_ms=apdex_t_ms,
    )


def choose_for(run: Run, monitor, pool: AgentPool) -> None:
    """Set the unsaved run's agent (a split run: its parts, in ``run.pending_parts``), or make it one
    created in ``error`` with the reason none fits."""
    if run.distribution is not None:
        placement, reason = pool.place(
            tenant=run.tenant, tool=run.tool, distribution=run.distribution,
            location=monitor.location if monitor is not None else "",
            pinned=monitor.agent if monitor is not None else None,
        )
        if not placement:
            lifecycle.created_final(run, RunStatus.ERROR, reason=reason)
        else:
            run.pending_parts = parts.new_parts(run, placement)
        return
    agent, reason = pool.choose(
        tenant=run.tenant,
        tool=run.tool,
        pinned=monitor.agent if monitor is not None else None,
        location=monitor.location if monitor is not None else "",
    )
    if agent is None:
        lifecycle.created_final(run, RunStatus.ERROR, reason=reason)
    else:
        run.agent = agent


def after_dispatch(runs: list[Run]) -> None:
    """Store the split runs' parts, announce the stored runs that found no agent, and publish the
    others once the transaction commits."""
    RunPart.all_tenants.bulk_create(
        [part for run in runs if run.status == RunStatus.QUEUED for part in getattr(run, "pending_parts", ())]
    )
    for run in runs:
        if run.status == RunStatus.ERROR:
            lifecycle.ended(run)
    queued = [run.pk for run in runs if run.status == RunStatus.QUEUED and (run.agent_id or run.is_split)]
    if queued:
        transaction.on_commit(lambda: publish_runs(queued))


def request_run(*, tenant, monitor=None, test=None, trigger=RunTrigger.MANUAL, actor: str = "",
                distribution=UNSET) -> Run:
    """Create a run of ``monitor`` (or of a standalone ``test``) and dispatch it.

    Raises Conflict when the monitor already has a queued or running run.
    The returned run is ``queued`` with its agent chosen, or already
    ``error`` when no agent can take it (the reason is in ``run.error``).
    """
    if (monitor is None) == (test is None):
        raise ValueError("request_run needs exactly one of monitor or test")
    with transaction.atomic():
        run = new_run(tenant=tenant, monitor=monitor, test=test, trigger=trigger, distribution=distribution)
        choose_for(run, monitor, AgentPool())
        try:
            with transaction.atomic():
                run.save(force_insert=True)
        except IntegrityError:
            raise Conflict(f"monitor '{monitor.name}' already has a queued or running run") from None
        after_dispatch([run])
    log.info("run %s requested by %s (%s) -> %s", run.pk, actor or "system", trigger, run.agent_id or run.status)
    return run


def publish_runs(run_ids: list) -> int:
    """Send the runs' assignments to their agents' queues, pipelined (perfmon/runs/publishing.py).

    Returns how many the broker took; the others keep ``published_at`` empty
    for the sweeper. Safe to call again (the sweeper does): the agent claims a
    run before it starts the tool, so a second message for a run does nothing.
    """
    runs = list(
        Run.all_tenants.filter(pk__in=run_ids, status=RunStatus.QUEUED)
        .filter(Q(agent__isnull=False) | Q(distribution__isnull=False))
        .values_list("pk", "agent_id", "tool")
    )
    # A split run's message is one per part, addressed by the part's id.
    targets: dict = {run_id: [(run_id, agent_id)] for run_id, agent_id, _ in runs if agent_id}
    for run_id, part_id, agent_id in RunPart.all_tenants.filter(
        run_id__in=[run_id for run_id, agent_id, _ in runs if not agent_id], status=PartStatus.QUEUED,
        agent__isnull=False,
    ).values_list("run_id", "pk", "agent_id"):
        targets.setdefault(run_id, []).append((part_id, agent_id))
    published = [run_id for run_id, _, _ in runs if run_id in targets]
    sent = publishing.publish_assignments(
        assignment(target_id, agent_id, tool)
        for run_id, _, tool in runs for target_id, agent_id in targets.get(run_id, ())
    )
    if not sent:
        return 0
    mark_published(published)
    return len(published)


def assignment(target_id, agent_id: str, tool: str) -> RunAssignment:
    """The message for one run (or one part of a split run) on its agent."""
    return RunAssignment(run_id=str(target_id), agent_id=agent_id, tool=tool,
                         time_limit_s=settings.PERFMON_RUN_TIME_LIMIT)


def mark_published(run_ids: list) -> None:
    """Stamp ``published_at`` on the runs whose messages the broker took (the sweeper skips them)."""
    if run_ids:
        Run.all_tenants.filter(pk__in=run_ids, published_at__isnull=True).update(published_at=timezone.now())


def publish_run(run_id) -> bool:
    """Publish one run (see publish_runs); True when the broker took it."""
    return publish_runs([run_id]) == 1


def run_for_tenant(tenant, run_id) -> Run:
    """The tenant's run. Raises NotFound (also for ids that are not UUIDs)."""
    try:
        return Run.objects.for_tenant(tenant).get(pk=run_id)
    except (Run.DoesNotExist, ValueError, TypeError, ValidationError):
        raise NotFound(f"run {run_id} does not exist") from None


def cancel_run(*, tenant, run_id, actor: str = "") -> Run:
    """Cancel a queued or running run. Raises NotFound, or Conflict when it has already ended.

    A run no agent has claimed yet ends ``cancelled`` at once; a claimed one
    is marked, and its agent stops the tool when it learns of it (heartbeat
    or stream answer) and reports it cancelled.
    """
    run = run_for_tenant(tenant, run_id)
    now = timezone.now()
    if lifecycle.cancel_unclaimed(run, reason=f"cancelled by {actor or 'a user'} before it started", at=now):
        if run.is_split:
            lifecycle.stop_parts(run, reason=run.status_reason)
        return run
    marked = Run.objects.for_tenant(tenant).filter(
        pk=run.pk, status__in=RunStatus.active(), cancel_requested_at__isnull=True
    ).update(cancel_requested_at=now, status_reason=f"cancellation requested by {actor or 'a user'}")
    run.refresh_from_db()
    if not marked and run.is_final:
        raise Conflict(f"run {run.pk} has already ended ({run.status})")
    if marked and run.is_split:
        # Parts no agent runs yet end now; running ones stop when their agents hear of it.
        lifecycle.stop_parts(run, reason=run.status_reason)
        parts.conclude(run)
        run.refresh_from_db()
    return run


# --- a monitor's pinned baseline -----------------------------------------------------------------

def _invalid_run(message: str) -> ValidationFailed:
    return ValidationFailed(f"run: {message}", details={"run": [message]})


def set_baseline(*, tenant, monitor: Monitor, run_id=None) -> Monitor:
    """Pin the run ``run_id`` as the monitor's baseline, or unpin it with ``run_id=None``.

    The run page then compares the monitor's runs with the pinned run
    instead of the median of its recent passing runs. Only a judged run
    (pass or fail) of this monitor can be pinned. Raises NotFound when the
    run is not one of the tenant's, ValidationFailed when it belongs to
    another monitor or was not judged.
    """
    if monitor.tenant_id != tenant.pk:
        raise ValueError("the monitor belongs to another tenant")
    run = None
    if run_id is not None:
        pk = as_uuid(run_id)
        run = Run.objects.for_tenant(tenant).only("id", "monitor_id", "status").filter(pk=pk).first() if pk else None
        if run is None:
            raise NotFound(f"run {run_id} does not exist")
        if run.monitor_id != monitor.pk:
            raise _invalid_run("The run belongs to another monitor.")
        if run.status not in (RunStatus.PASS, RunStatus.FAIL):
            raise _invalid_run("Only a passing or failing run can be the baseline.")
    now = timezone.now()
    Monitor.objects.for_tenant(tenant).filter(pk=monitor.pk).update(baseline_run=run, updated_at=now)
    monitor.baseline_run, monitor.updated_at = run, now
    return monitor
