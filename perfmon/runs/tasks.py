"""Celery tasks of the runs app: thin wrappers with stable names."""

from celery import shared_task

from runners.protocol import DISPATCH_DUE, SWEEP_RUNS


@shared_task(name=DISPATCH_DUE, ignore_result=True)
def dispatch_due() -> None:
    """The scheduler tick: dispatch every due monitor (the name is still the monitors app's: beat rows carry it)."""
    from django.conf import settings

    from perfmon.runs.tick import dispatch_due as tick

    tick(ahead_s=settings.PERFMON_DISPATCH_AHEAD)


@shared_task(name=SWEEP_RUNS, ignore_result=True)
def sweep_runs() -> None:
    """Publish lost messages, end runs of lost agents, expire stuck runs."""
    from perfmon.runs.sweeper import sweep

    sweep()
