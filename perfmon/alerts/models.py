"""Alerts raised by judged runs and by agents going offline."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from perfmon.core.models import TimeStamped
from perfmon.core.scoping import TenantManager


class AlertState(models.TextChoices):
    OPEN = "open", "Open"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    RESOLVED = "resolved", "Resolved"

    @classmethod
    def unresolved(cls) -> frozenset[str]:
        return frozenset({cls.OPEN, cls.ACKNOWLEDGED})


class AlertKind(models.TextChoices):
    RUN_FAILED = "run_failed", "Thresholds breached"
    RUN_ERROR = "run_error", "Run errored"
    AGENT_OFFLINE = "agent_offline", "Agent offline"


class Alert(TimeStamped):
    """One incident: opened by the first bad run, updated by the next, resolved by a good one."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="alerts")
    monitor = models.ForeignKey(
        "monitors.Monitor", on_delete=models.CASCADE, null=True, blank=True, related_name="alerts"
    )
    agent = models.ForeignKey(
        "fleet.Agent", on_delete=models.CASCADE, null=True, blank=True, related_name="alerts"
    )
    kind = models.CharField(max_length=32, choices=AlertKind.choices)
    state = models.CharField(max_length=16, choices=AlertState.choices, default=AlertState.OPEN)
    title = models.CharField(max_length=300)
    details = models.JSONField(default=dict, blank=True)
    occurrences = models.PositiveIntegerField(default=1)
    first_run = models.ForeignKey(
        "runs.Run", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    last_run = models.ForeignKey(
        "runs.Run", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    opened_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # Who acknowledged, in words (a user's name or an API key's label).
    acknowledged_by_label = models.CharField(max_length=200, blank=True)
    note = models.TextField(blank=True)

    objects = TenantManager()
    all_tenants = models.Manager()

    class Meta:
        default_manager_name = "all_tenants"
        ordering = ["-opened_at"]
        indexes = [
            # GET /api/alerts: a tenant's alerts newest first (optionally one monitor's).
            models.Index(fields=["tenant", "-opened_at"], name="alert_tenant_opened"),
            models.Index(fields=["monitor", "-opened_at"], name="alert_monitor_opened"),
        ]
        constraints = [
            # One unresolved alert per monitor and kind: repeats update it, no storm.
            models.UniqueConstraint(
                fields=["monitor", "kind"],
                condition=models.Q(state__in=["open", "acknowledged"]),
                name="alert_one_unresolved_per_monitor_kind",
            ),
            models.UniqueConstraint(
                fields=["agent", "kind"],
                condition=models.Q(state__in=["open", "acknowledged"]),
                name="alert_one_unresolved_per_agent_kind",
            ),
        ]

    def __str__(self) -> str:
        return self.title


class ChannelKind(models.TextChoices):
    WEBHOOK = "webhook", "Webhook (signed JSON POST)"
    SLACK = "slack", "Slack incoming webhook"
    EMAIL = "email", "E-mail"


class NotificationChannel(TimeStamped):
    """Where a tenant's alert notifications go.

    ``secret`` signs webhook bodies (HMAC-SHA256); it has to be usable, so it
    is stored as is, unlike credentials, and never shown after creation.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="notification_channels")
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=16, choices=ChannelKind.choices)
    url = models.URLField(max_length=1000, blank=True)
    secret = models.CharField(max_length=200, blank=True)
    email_to = models.CharField(max_length=1000, blank=True, help_text="comma-separated addresses")
    enabled = models.BooleanField(default=True)

    objects = TenantManager()
    all_tenants = models.Manager()

    class Meta:
        default_manager_name = "all_tenants"
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"


class Notification(TimeStamped):
    """One message for one channel, delivered (with retries) by a Celery task."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="notifications")
    channel = models.ForeignKey(NotificationChannel, on_delete=models.CASCADE, related_name="notifications")
    alert = models.ForeignKey(Alert, on_delete=models.SET_NULL, null=True, blank=True, related_name="notifications")
    event = models.CharField(max_length=32)
    payload = models.JSONField()
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    delivered_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    objects = TenantManager()
    all_tenants = models.Manager()

    class Meta:
        default_manager_name = "all_tenants"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.event} -> {self.channel_id} ({self.status})"


class DeliveryAttempt(models.Model):
    """One try at delivering a notification: what the receiver answered."""

    id = models.BigAutoField(primary_key=True)
    notification = models.ForeignKey(Notification, on_delete=models.CASCADE, related_name="delivery_attempts")
    number = models.PositiveIntegerField()
    attempted_at = models.DateTimeField(auto_now_add=True)
    ok = models.BooleanField()
    response_code = models.PositiveIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    duration_ms = models.FloatField(null=True)

    objects = TenantManager(tenant_path="notification__tenant")
    all_tenants = models.Manager()

    class Meta:
        default_manager_name = "all_tenants"
        ordering = ["notification", "number"]

    def __str__(self) -> str:
        return f"attempt {self.number} of {self.notification_id}: {'ok' if self.ok else self.error[:40]}"
