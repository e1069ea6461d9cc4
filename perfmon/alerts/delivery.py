"""One delivery attempt of a notification, recorded whatever happens."""

from __future__ import annotations

import logging
import time

from django.conf import settings
from django.utils import timezone

from perfmon.alerts.channels import TransportError, deliver
from perfmon.alerts.models import DeliveryAttempt, DeliveryStatus, Notification

log = logging.getLogger(__name__)


def backoff(attempt: int) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1-based): base * 2^(attempt-1)."""
    return settings.PERFMON_NOTIFY_BACKOFF_S * (2 ** (attempt - 1))


def attempt_delivery(notification_id) -> float | None:
    """Try to deliver; returns the seconds to wait before retrying, or None when done (either way)."""
    notification = Notification.all_tenants.select_related("channel").filter(pk=notification_id).first()
    if notification is None or notification.status != DeliveryStatus.PENDING:
        return None
    number = notification.attempts + 1
    started = time.perf_counter()
    code, error, permanent = None, "", False
    try:
        code = deliver(notification.channel, notification.event, notification.payload, str(notification.pk))
    except TransportError as exc:
        code, error, permanent = exc.response_code, str(exc), exc.permanent
    DeliveryAttempt.all_tenants.create(
        notification=notification, number=number, ok=not error, response_code=code, error=error,
        duration_ms=round((time.perf_counter() - started) * 1000, 1),
    )
    notification.attempts = number
    if not error:
        notification.status, notification.delivered_at, notification.last_error = (
            DeliveryStatus.DELIVERED, timezone.now(), "")
    else:
        notification.last_error = error
        if permanent or number >= settings.PERFMON_NOTIFY_MAX_ATTEMPTS:
            notification.status = DeliveryStatus.FAILED
            log.warning("notification %s to %s failed for good: %s", notification.pk, notification.channel, error)
    notification.save(update_fields=["attempts", "status", "delivered_at", "last_error", "updated_at"])
    return backoff(number) if notification.status == DeliveryStatus.PENDING else None
