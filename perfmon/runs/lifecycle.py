"""A run's status and every change of it.

```
   new ──▶ queued ──claim──▶ running ──judge──▶ pass | fail | error | cancelled
             │                  │
             │ cancel           │ sweeper (agent lost, never reported)
             ├───────▶ cancelled └──────────▶ error
             │ sweeper (expired in the queue)
             └───────▶ error

   new ──▶ skipped   a tick found the previous run still active, or fire times were missed
   new ──▶ error     no agent can take the run
```

Each change is one conditional ``UPDATE … WHERE status IN (the states it may
leave)`` and its caller goes on only if a row changed: the agent, the
sweeper, a user cancelling and a second control-plane worker may act on one
run at the same moment, and exactly one of them wins. Nothing else writes a
run's ``status`` (tests/perfmon/runs/test_lifecycle.py reads the source to
keep it so).

The parts of a split run (RunPart) have a lifecycle of their own, written
here the same way (``move_part``)::

   queued ──claim──▶ preparing ──ready──▶ ready ──release──▶ running ──report──▶ completed | failed | cancelled
      └─────────────────┴────────────────────┴──────────────────┴──▶ cancelled | failed | lost

A run that reaches a final state is announced once, by ``run_ended``: its
monitor's last status is updated here, and the apps above runs (alert rules,
``run.completed`` webhooks) connect to the signal when they start, so runs
never imports them.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.dispatch import Signal
from django.utils import timezone

from perfmon.monitors.models import Monitor
from perfmon.runs.models import PartStatus, Run, RunPart, RunStatus

# Sent with ``run=`` (saved, current) once the run has reached a final state.
run_ended = Signal()

# The states a run may move to from each state; a final state has none.
TRANSITIONS: dict[str, frozenset[str]] = {
    RunStatus.QUEUED: frozenset({RunStatus.RUNNING, RunStatus.CANCELLED, RunStatus.ERROR}),
    RunStatus.RUNNING: frozenset({RunStatus.PASS, RunStatus.FAIL, RunStatus.ERROR, RunStatus.CANCELLED}),
}
FINAL = RunStatus.final()
# A run may also be created final: skipped by the tick, or in error when no agent can take it.
CREATED_FINAL = frozenset({RunStatus.SKIPPED, RunStatus.ERROR})
# The final states that judge a monitor (its last status, alerts); skipped and cancelled runs say nothing of it.
JUDGED = frozenset({RunStatus.PASS, RunStatus.FAIL, RunStatus.ERROR})


class InvalidTransition(ValueError):
    """A change no run may make (a programming mistake, never a user's)."""


def sources(target: str) -> frozenset[str]:
    """The states a run may move to ``target`` from."""
    return frozenset(state for state, targets in TRANSITIONS.items() if target in targets)


def move(run: Run, to: str, *, only_from: Iterable[str] | None = None, where: dict | None = None, **fields) -> bool:
    """Move the saved ``run`` to ``to`` and set ``fields``, in one UPDATE, if it may still move there.

    The update applies only while the run's status is one that may move to
    ``to`` (narrowed to ``only_from``) and the ``where`` lookups hold. Returns
    whether it moved; if it did, ``run`` is reloaded and, for a final state,
    announced (``ended``). ``updated_at`` and, for a final state,
    ``completed_at`` default to now. Raises InvalidTransition for a move the
    table does not allow from any state.
    """
    if not _compare_and_set(run, to, sources(to), FINAL, only_from=only_from, where=where, fields=fields):
        return False
    if to in FINAL:
        ended(run)
    return True


def _compare_and_set(row, to: str, allowed: frozenset[str], final: frozenset[str], *, only_from, where,
                     fields: dict) -> bool:
    """The one UPDATE of ``move`` and ``move_part``: ``row`` to ``to`` while its status is one of ``allowed``
    (narrowed to ``only_from``) and the ``where`` lookups hold; reloads ``row`` if it moved."""
    what = "part" if isinstance(row, RunPart) else "run"
    if only_from is not None:
        narrowed = frozenset(only_from)
        if not narrowed <= allowed:
            raise InvalidTransition(f"a {what} cannot move from {sorted(narrowed - allowed)} to {to}")
        allowed = narrowed
    if not allowed:
        raise InvalidTransition(f"no {what} moves to {to}")
    now = timezone.now()
    fields.setdefault("updated_at", now)
    if to in final:
        fields.setdefault("completed_at", now)
    model = type(row)
    changed = model.all_tenants.filter(pk=row.pk, status__in=allowed, **(where or {})).update(status=to, **fields)
    if changed:
        row.refresh_from_db()
    return bool(changed)


def claim(run: Run, *, agent, claim_id, at: datetime | None = None) -> bool:
    """queued → running for ``agent``'s execution ``claim_id``; False if the run is not queued on that agent."""
    at = at or timezone.now()
    return move(run, RunStatus.RUNNING, where={"agent": agent}, claim_id=claim_id, claimed_at=at, started_at=at)


def cancel_unclaimed(run: Run, *, reason: str, at: datetime | None = None) -> bool:
    """queued → cancelled while no agent has claimed the run; False otherwise."""
    at = at or timezone.now()
    return move(run, RunStatus.CANCELLED, only_from={RunStatus.QUEUED}, where={"claimed_at__isnull": True},
                completed_at=at, cancel_requested_at=at, status_reason=reason)


def judge(run: Run, status: str, **fields) -> bool:
    """running → ``status`` (pass, fail, error or cancelled) with the judged ``fields``; False if not running."""
    return move(run, status, only_from={RunStatus.RUNNING}, **fields)


def fail_active(run: Run, *, error: str, at: datetime | None = None, **fields) -> bool:
    """queued or running → error with ``error`` as the reason (and ``fields``, e.g. the figures measured
    until then); False if the run has ended meanwhile."""
    return move(run, RunStatus.ERROR, error=error, completed_at=at or timezone.now(), **fields)


def created_final(run: Run, status: str, *, reason: str, at: datetime | None = None) -> Run:
    """Make the unsaved ``run`` one that is created final: ``skipped`` (``reason`` in its status
    reason, no agent) or ``error`` (``reason`` as its error). Returns it, still unsaved.

    The caller saves it and, for ``error``, announces it with ``ended`` once it is stored.
    Raises InvalidTransition for a saved run, another status, or a run that is not queued.
    """
    if not run._state.adding or status not in CREATED_FINAL or run.status != RunStatus.QUEUED:
        raise InvalidTransition(f"only a new queued run is created {'/'.join(sorted(CREATED_FINAL))}, not {status}")
    run.status, run.completed_at = status, at or timezone.now()
    if status == RunStatus.SKIPPED:
        run.status_reason, run.agent = reason, None
    else:
        run.error = reason
    return run


def ended(run: Run) -> None:
    """What follows any run's end: its monitor's last run and status, then the ``run_ended`` receivers."""
    if run.monitor_id and run.status in JUDGED:
        Monitor.all_tenants.filter(pk=run.monitor_id).update(
            last_run_at=run.completed_at, last_status=run.status
        )
    run_ended.send(sender=Run, run=run)


# --- the parts of a split run ---------------------------------------------------------------

PART_TRANSITIONS: dict[str, frozenset[str]] = {
    PartStatus.QUEUED: frozenset({PartStatus.PREPARING, PartStatus.CANCELLED, PartStatus.FAILED, PartStatus.LOST}),
    PartStatus.PREPARING: frozenset({PartStatus.READY, PartStatus.FAILED, PartStatus.CANCELLED, PartStatus.LOST}),
    PartStatus.READY: frozenset({PartStatus.RUNNING, PartStatus.FAILED, PartStatus.CANCELLED, PartStatus.LOST}),
    PartStatus.RUNNING: frozenset({PartStatus.COMPLETED, PartStatus.FAILED, PartStatus.CANCELLED, PartStatus.LOST}),
}


def move_part(part: RunPart, to: str, *, only_from: Iterable[str] | None = None, where: dict | None = None,
              **fields) -> bool:
    """Move the saved ``part`` to ``to`` and set ``fields`` in one UPDATE, if it may still move there.

    As ``move`` for runs: returns whether it moved, and reloads ``part`` if it did.
    """
    allowed = frozenset(state for state, targets in PART_TRANSITIONS.items() if to in targets)
    return _compare_and_set(part, to, allowed, PartStatus.final(), only_from=only_from, where=where, fields=fields)


def start_split(run: Run, *, at: datetime) -> bool:
    """queued → running for a split run when its first part is claimed; False if it already left queued."""
    return move(run, RunStatus.RUNNING, only_from={RunStatus.QUEUED}, claimed_at=at)


def release_parts(run: Run, *, start_at: datetime) -> int:
    """ready → running for every part of ``run``, all with one common start; returns how many moved."""
    return RunPart.all_tenants.filter(run=run, status=PartStatus.READY).update(
        status=PartStatus.RUNNING, started_at=start_at, updated_at=timezone.now())


def stop_parts(run: Run, *, reason: str, to: str = PartStatus.CANCELLED) -> int:
    """End the parts of ``run`` that no agent runs yet (queued, preparing or ready) as ``to``.

    Running parts are left to their agents, which stop the tool when they
    learn the run ended or was cancelled, and report what they measured.
    """
    return RunPart.all_tenants.filter(
        run=run, status__in={PartStatus.QUEUED, PartStatus.PREPARING, PartStatus.READY}
    ).update(status=to, error=reason, completed_at=timezone.now(), updated_at=timezone.now())
