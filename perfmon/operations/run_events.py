"""Outgoing ``run.completed`` webhooks: other systems react to every run that ends.

A tenant chooses which of its webhook channels receive the event (admin:
Tenant settings → run completed channels). ``OperationsConfig.ready`` connects
``run_completed`` to the runs' ``run_ended`` signal. The notification rows are
written in the judging transaction and delivered after commit through the same
delivery as alerts (perfmon.alerts.deliver_notification: signed body,
X-Perfmon-Delivery id, retries with backoff, every attempt recorded).
"""

from __future__ import annotations

from django.utils import timezone

from perfmon.alerts.models import ChannelKind, Notification, NotificationChannel
from perfmon.alerts.notify import enqueue, iso, run_metrics
from perfmon.operations.models import TenantSettings

RUN_COMPLETED = "run.completed"


def run_payload(run) -> dict:
    """The documented body of a run.completed event (docs/operations.md)."""
    monitor = run.monitor if run.monitor_id else None
    return {
        "event": RUN_COMPLETED,
        "tenant": run.tenant.slug,
        "sentAt": iso(timezone.now()),
        "run": {
            "id": str(run.pk),
            "status": run.status,
            "monitorId": str(run.monitor_id) if run.monitor_id else None,
            "monitorName": monitor.name if monitor else None,
            "testId": str(run.test_id) if run.test_id else None,
            "tool": run.tool,
            "trigger": run.trigger,
            "agentId": run.agent_id,
            "startedAt": iso(run.started_at),
            "completedAt": iso(run.completed_at),
            "metrics": run_metrics(run),
            "thresholdBreaches": run.breaches or [],
            "error": run.error,
        },
    }


def run_completed(run) -> list[Notification]:
    """Queue a run.completed notification to each subscribed, enabled webhook channel of the run's tenant."""
    channels = list(NotificationChannel.objects.for_tenant(run.tenant_id).filter(
        enabled=True, kind=ChannelKind.WEBHOOK,
        pk__in=TenantSettings.run_completed_channels.through.objects.filter(
            tenantsettings_id=run.tenant_id).values("notificationchannel_id"),
    ))
    if not channels:
        return []
    return enqueue(run.tenant, RUN_COMPLETED, run_payload(run), channels=channels)


def on_run_ended(sender, run, **kwargs) -> None:
    """The ``run_ended`` receiver (connected by OperationsConfig.ready)."""
    run_completed(run)
