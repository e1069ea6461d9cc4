"""A tenant's operational settings: how long its history is kept, and who hears of finished runs."""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from perfmon.core.models import TimeStamped
from perfmon.core.scoping import TenantManager

_DAYS = [MinValueValidator(1), MaxValueValidator(36600)]


class TenantSettings(TimeStamped):
    """One row per tenant, created on first use with the server's defaults (docs/operations.md).

    A null retention means "the server default" (PERFMON_RETENTION_*), so a
    changed default reaches every tenant that never chose its own.
    """

    tenant = models.OneToOneField("tenants.Tenant", on_delete=models.CASCADE, primary_key=True,
                                  related_name="operations_settings")
    series_retention_days = models.PositiveIntegerField(
        null=True, blank=True, validators=_DAYS,
        help_text="days to keep runs' per-interval series and logs; empty: PERFMON_RETENTION_SERIES_DAYS (30)",
    )
    run_retention_days = models.PositiveIntegerField(
        null=True, blank=True, validators=_DAYS,
        help_text="days to keep run summaries (status, metrics, breaches); empty: PERFMON_RETENTION_RUNS_DAYS (400)",
    )
    alert_retention_days = models.PositiveIntegerField(
        null=True, blank=True, validators=_DAYS,
        help_text="days to keep resolved alerts (after resolution); empty: PERFMON_RETENTION_ALERTS_DAYS (400)",
    )
    # Webhook channels that receive a `run.completed` event for every run that ends (docs/operations.md).
    run_completed_channels = models.ManyToManyField(
        "alerts.NotificationChannel", blank=True, related_name="+", limit_choices_to={"kind": "webhook"},
        help_text="webhook channels that receive run.completed events",
    )

    objects = TenantManager()
    all_tenants = models.Manager()

    class Meta:
        default_manager_name = "all_tenants"
        verbose_name = "tenant settings"
        verbose_name_plural = "tenant settings"

    def __str__(self) -> str:
        return f"settings of {self.tenant_id}"


class AuditAction(models.TextChoices):
    CREATED = "created", "Created"
    UPDATED = "updated", "Updated"
    DELETED = "deleted", "Deleted"


class AuditEntry(models.Model):
    """Who changed what: one row per create, update or delete of an audited object (perfmon/operations/audit.py)."""

    id = models.BigAutoField(primary_key=True)
    # A tenant's audit trail goes with the tenant; null for objects of no tenant.
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, null=True, blank=True,
                               related_name="audit_entries")
    at = models.DateTimeField(auto_now_add=True)
    # "user:alice", "api-key:abcd1234 (ci)", "oidc:…", or "system" (commands, tasks).
    actor = models.CharField(max_length=200)
    action = models.CharField(max_length=16, choices=AuditAction.choices)
    object_type = models.CharField(max_length=64)  # "monitor", "test", "api key", "license", "channel", …
    object_id = models.CharField(max_length=64)
    object_repr = models.CharField(max_length=300)
    # {field: [old, new]} for updates (secrets shown as "(changed)"); the field values for creates.
    changes = models.JSONField(default=dict, blank=True)

    objects = TenantManager()
    all_tenants = models.Manager()

    class Meta:
        default_manager_name = "all_tenants"
        ordering = ["-at", "-id"]
        verbose_name_plural = "audit entries"
        indexes = [
            # The admin's default list and its tenant filter: newest first.
            models.Index(fields=["tenant", "-at"], name="audit_tenant_at"),
            # "History of this object".
            models.Index(fields=["object_type", "object_id"], name="audit_object"),
        ]

    def __str__(self) -> str:
        return f"{self.actor} {self.action} {self.object_type} {self.object_repr}"
