"""Monitors: a test definition run on a cron schedule and judged by thresholds."""

from __future__ import annotations

import uuid

from django.db import models

from perfmon.core.models import TimeStamped
from perfmon.core.scoping import TenantManager

DEFAULT_APDEX_T_MS = 500


class Monitor(TimeStamped):
    """A scheduled, judged test.

    The schedule lives on the row (cron, time zone and the indexed
    ``next_run_at``) so one scheduler tick claims every due monitor with a
    single indexed query; django-celery-beat holds only system entries.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="monitors")
    name = models.CharField(max_length=200)
    # A monitor owns its test definition; deleting the monitor deletes it.
    test = models.OneToOneField(
        "definitions.TestDefinition", on_delete=models.PROTECT, related_name="monitor"
    )
    schedule = models.CharField(max_length=120, help_text="five-field cron expression")
    timezone = models.CharField(max_length=64, default="UTC")
    next_run_at = models.DateTimeField(null=True, blank=True)
    enabled = models.BooleanField(default=True)
    # {"latencyMs": 2000, "errorRatePercent": 5.0, "apdexMin": 0.7, "latencyPercentile": 95}
    thresholds = models.JSONField(default=dict, blank=True)
    apdex_t_ms = models.PositiveIntegerField(default=DEFAULT_APDEX_T_MS)
    parameters = models.JSONField(default=dict, blank=True)
    # Targeting: a pinned agent wins over a location; neither means any agent.
    agent = models.ForeignKey(
        "fleet.Agent", on_delete=models.SET_NULL, null=True, blank=True, related_name="pinned_monitors"
    )
    location = models.CharField(max_length=63, blank=True)
    # A run pinned as the baseline its runs are compared with (else the median of recent passing
    # runs); deleting the run unpins it.
    baseline_run = models.ForeignKey(
        "runs.Run", on_delete=models.SET_NULL, null=True, blank=True, related_name="baseline_of"
    )
    last_run_at = models.DateTimeField(null=True, blank=True)
    last_status = models.CharField(max_length=16, blank=True)
    # Alert rules: open an alert only after this many bad runs in a row ...
    alert_after_failures = models.PositiveIntegerField(default=1)
    # ... and hold alerts during maintenance: a recurring window (cron + minutes,
    # in the monitor's time zone) and/or a one-off window (start/end).
    maintenance_cron = models.CharField(max_length=120, blank=True)
    maintenance_minutes = models.PositiveIntegerField(default=0)
    maintenance_start = models.DateTimeField(null=True, blank=True)
    maintenance_end = models.DateTimeField(null=True, blank=True)

    objects = TenantManager()
    all_tenants = models.Manager()

    class Meta:
        default_manager_name = "all_tenants"
        ordering = ["name", "id"]
        indexes = [
            # The scheduler tick: enabled monitors due now, oldest due first.
            models.Index(
                fields=["next_run_at"], condition=models.Q(enabled=True), name="monitor_due"
            ),
            # GET /api/monitors: a tenant's monitors by name.
            models.Index(fields=["tenant", "name"], name="monitor_tenant_name"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def tool(self) -> str:
        return self.test.tool
