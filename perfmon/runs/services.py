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
from django.utils import timezone

from perfmon.core.errors import Conflict, NotFound
from perfmon.runs import lifecycle
from perfmon.runs.agents import AgentPool
from perfmon.runs.models import Run, RunStatus, RunTrigger
from runners.protocol import EXECUTE_RUN, RunAssignment, agent_queue

log = logging.getLogger(__name__)

PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.5, "interval_max": 0.5}


def new_run(*, tenant, monitor, test, trigger, scheduled_for=None) -> Run:
    """An unsaved queued run with the script, parameters and thresholds copied from its definition."""
    if monitor is not None:
        test = monitor.test
        parameters = {**(test.parameters or {}), **(monitor.parameters or {})}
        thresholds, apdex_t_ms = monitor.thresholds or {}, monitor.apdex_t_ms
    else:
        parameters, thresholds, apdex_t_ms = dict(test.parameters or {}), {}, 500
    return Run(
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
    """Set the unsaved run's agent, or make it one created in ``error`` with the reason none fits."""
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
    """Announce the stored runs that found no agent; publish the others once the transaction commits."""
    for run in runs:
        if run.status == RunStatus.ERROR:
            lifecycle.ended(run)
    queued = [run.pk for run in runs if run.status == RunStatus.QUEUED and run.agent_id]
    if queued:
        transaction.on_commit(lambda: publish_runs(queued))


def request_run(*, tenant, monitor=None, test=None, trigger=RunTrigger.MANUAL, actor: str = "") -> Run:
    """Create a run of ``monitor`` (or of a standalone ``test``) and dispatch it.

    Raises Conflict when the monitor already has a queued or running run.
    The returned run is ``queued`` with its agent chosen, or already
    ``error`` when no agent can take it (the reason is in ``run.error``).
    """
    if (monitor is None) == (test is None):
        raise ValueError("request_run needs exactly one of monitor or test")
    with transaction.atomic():
        run = new_run(tenant=tenant, monitor=monitor, test=test, trigger=trigger)
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
    """Send the runs' assignments to their agents' queues over one broker connection.

    Returns how many the broker took; the others keep ``published_at`` empty
    for the sweeper. Safe to call again (the sweeper does): the agent claims a
    run before it starts the tool, so a second message for a run does nothing.
    """
    from perfmon.celery import app

    runs = list(
        Run.all_tenants.filter(pk__in=run_ids, status=RunStatus.QUEUED, agent__isnull=False)
        .values_list("pk", "agent_id", "tool")
    )
    published = []
    try:
        with app.producer_or_acquire() as producer:
            for run_id, agent_id, tool in runs:
                assignment = RunAssignment(
                    run_id=str(run_id), agent_id=agent_id, tool=tool, time_limit_s=settings.PERFMON_RUN_TIME_LIMIT
                )
                app.send_task(
                    EXECUTE_RUN, args=[assignment.to_dict()], queue=agent_queue(agent_id), producer=producer,
                    retry=True, retry_policy=PUBLISH_RETRY_POLICY,
                )
                published.append(run_id)
    except Exception as exc:  # the broker's many connection errors: the sweeper retries
        log.warning("publishing %d run(s) failed after %d: %s", len(runs), len(published), exc)
    if published:
        Run.all_tenants.filter(pk__in=published, published_at__isnull=True).update(published_at=timezone.now())
    return len(published)


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
        return run
    marked = Run.objects.for_tenant(tenant).filter(
        pk=run.pk, status__in=RunStatus.active(), cancel_requested_at__isnull=True
    ).update(cancel_requested_at=now, status_reason=f"cancellation requested by {actor or 'a user'}")
    run.refresh_from_db()
    if not marked and run.is_final:
        raise Conflict(f"run {run.pk} has already ended ({run.status})")
    return run
