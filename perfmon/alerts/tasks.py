"""Celery tasks of the alerts app."""

from celery import shared_task

from runners.protocol import MARK_AGENTS_OFFLINE

DELIVER_NOTIFICATION = "perfmon.alerts.deliver_notification"


@shared_task(name=DELIVER_NOTIFICATION, bind=True, max_retries=None, ignore_result=True, acks_late=True)
def deliver_notification(self, notification_id: str) -> None:
    """One delivery attempt; retried with exponential backoff while the channel fails."""
    from perfmon.alerts.delivery import attempt_delivery

    retry_in = attempt_delivery(notification_id)
    if retry_in is not None:
        raise self.retry(countdown=retry_in)


# The name is still the fleet app's (perfmon.fleet.mark_offline): beat rows carry it.
@shared_task(name=MARK_AGENTS_OFFLINE, ignore_result=True)
def mark_agents_offline() -> None:
    """Open alerts for tenant agents that stopped heartbeating; resolve them when they return."""
    from perfmon.alerts.liveness import check_agents

    check_agents()
