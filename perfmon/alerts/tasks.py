"""Celery tasks of the alerts app."""

from celery import shared_task

DELIVER_NOTIFICATION = "perfmon.alerts.deliver_notification"


@shared_task(name=DELIVER_NOTIFICATION, bind=True, max_retries=None, ignore_result=True, acks_late=True)
def deliver_notification(self, notification_id: str) -> None:
    """One delivery attempt; retried with exponential backoff while the channel fails."""
    from perfmon.alerts.delivery import attempt_delivery

    retry_in = attempt_delivery(notification_id)
    if retry_in is not None:
        raise self.retry(countdown=retry_in)
