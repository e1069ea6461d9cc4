"""Celery tasks of the operations app (explicit, stable names)."""

from celery import shared_task

RETENTION = "perfmon.runs.retention"


@shared_task(name=RETENTION, ignore_result=True)
def retention() -> None:
    """Delete history past each tenant's retention, in bounded batches (perfmon/operations/retention.py)."""
    from perfmon.operations.retention import purge

    purge()
