"""Celery tasks of the fleet app."""

from celery import shared_task

from runners.protocol import MARK_AGENTS_OFFLINE


@shared_task(name=MARK_AGENTS_OFFLINE, ignore_result=True)
def mark_agents_offline() -> None:
    """Open alerts for tenant agents that stopped heartbeating; resolve them when they return."""
    from perfmon.fleet.liveness import check_agents

    check_agents()
