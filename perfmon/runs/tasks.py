"""Celery tasks of the runs app: thin wrappers with stable names."""

from celery import shared_task

from runners.protocol import SWEEP_RUNS


@shared_task(name=SWEEP_RUNS, ignore_result=True)
def sweep_runs() -> None:
    """Publish lost messages, end runs of lost agents, expire stuck runs."""
    from perfmon.runs.sweeper import sweep

    sweep()
