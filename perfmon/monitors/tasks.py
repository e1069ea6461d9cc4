"""Celery tasks of the monitors app: thin wrappers with stable names."""

from celery import shared_task

from runners.protocol import DISPATCH_DUE


@shared_task(name=DISPATCH_DUE, ignore_result=True)
def dispatch_due() -> None:
    """The scheduler tick: dispatch every due monitor."""
    from perfmon.monitors.scheduler import dispatch_due as tick

    tick()
