"""Turning alert events into notifications, one per enabled channel of the tenant.

Rows are written in the caller's transaction and their delivery is queued
after commit, so judging a run never waits on a receiver, and a failing
channel never blocks anything but its own retries.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from perfmon.alerts.models import Alert, Notification, NotificationChannel

# The summary figures a notification carries of a run (docs/alerts.md, docs/operations.md).
RUN_METRIC_KEYS = ("count", "errors", "error_rate", "p50_ms", "p95_ms", "p99_ms", "throughput_rps", "apdex")


def iso(moment) -> str | None:
    """A moment as the notifications write it: ISO 8601 in UTC with a ``Z``, or None."""
    return moment.isoformat().replace("+00:00", "Z") if moment else None


def run_metrics(run) -> dict:
    """The run's summary figures in a notification (each key present, None when not measured)."""
    metrics = run.metrics or {}
    return {key: metrics.get(key) for key in RUN_METRIC_KEYS}


def alert_payload(alert: Alert, event: str, run=None) -> dict:
    """The documented JSON body of a notification (docs/alerts.md)."""
    body = {
        "event": event,
        "tenant": alert.tenant.slug,
        "sentAt": iso(timezone.now()),
        "alert": {
            "id": str(alert.pk),
            "kind": alert.kind,
            "state": alert.state,
            "title": alert.title,
            "monitorId": str(alert.monitor_id) if alert.monitor_id else None,
            "monitorName": alert.monitor.name if alert.monitor_id else None,
            "agentId": alert.agent_id,
            "occurrences": alert.occurrences,
            "openedAt": iso(alert.opened_at),
            "acknowledgedAt": iso(alert.acknowledged_at),
            "resolvedAt": iso(alert.resolved_at),
            "note": alert.note,
            "details": alert.details,
        },
        "run": None,
    }
    if run is not None:
        body["run"] = {
            "id": str(run.pk),
            "status": run.status,
            "metrics": run_metrics(run),
            "thresholdBreaches": run.breaches,
            "error": run.error,
            "completedAt": iso(run.completed_at),
        }
    return body


def _queue(notification_ids: list) -> None:
    from perfmon.alerts.tasks import deliver_notification

    for notification_id in notification_ids:
        deliver_notification.apply_async(args=[str(notification_id)])


def enqueue(tenant, event: str, payload: dict, *, alert=None, channels=None) -> list[Notification]:
    """Create one notification per channel (default: the tenant's enabled ones) and queue them."""
    if channels is None:
        channels = NotificationChannel.objects.for_tenant(tenant).filter(enabled=True)
    created = [
        Notification.objects.create(tenant=tenant, channel=channel, alert=alert, event=event, payload=payload)
        for channel in channels
    ]
    ids = [n.pk for n in created]
    if ids:
        transaction.on_commit(lambda: _queue(ids))
    return created


def notify(alert: Alert, event: str, run=None) -> list[Notification]:
    """Notify the alert's tenant of ``event``."""
    return enqueue(alert.tenant, event, alert_payload(alert, event, run), alert=alert)


def send_test_notification(channel: NotificationChannel) -> Notification:
    """A test message to one channel, whatever its enabled flag (the "send test" action)."""
    payload = {
        "event": "test",
        "tenant": channel.tenant.slug,
        "sentAt": iso(timezone.now()),
        "message": f"Test notification from perfmon to channel '{channel.name}'",
        "alert": None,
        "run": None,
    }
    return enqueue(channel.tenant, "test", payload, channels=[channel])[0]
