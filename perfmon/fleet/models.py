"""Agents (the hosts that run the tools) and their host metric samples."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.utils import timezone

from perfmon.core.models import TimeStamped
from perfmon.core.scoping import TenantManager

agent_id_validator = RegexValidator(
    r"^[a-z0-9][a-z0-9-]{0,62}$", "An agent id is lowercase letters, digits and dashes (e.g. eu-west-1)."
)


class AgentStatus(models.TextChoices):
    ONLINE = "online", "Online"
    OFFLINE = "offline", "Offline"


class Agent(TimeStamped):
    """A host running the perfmon agent. Its id is a slug such as ``eu-west-1``.

    A tenant-less agent is shared by all tenants. Credentials are stored as
    SHA-256 digests with a public lookup id (perfmon/core/credentials.py).
    """

    id = models.CharField(primary_key=True, max_length=63, validators=[agent_id_validator])
    tenant = models.ForeignKey(
        "tenants.Tenant", on_delete=models.CASCADE, null=True, blank=True, related_name="agents"
    )
    name = models.CharField(max_length=200, blank=True)
    location = models.CharField(max_length=63, blank=True, db_index=True)
    # Host facts, reported by the agent or registered through /api/v1/machines.
    hostname = models.CharField(max_length=255, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    os = models.CharField(max_length=32, blank=True)
    arch = models.CharField(max_length=32, blank=True)
    cpu_cores = models.PositiveIntegerField(null=True, blank=True)
    memory_gb = models.FloatField(null=True, blank=True)
    version = models.CharField(max_length=32, blank=True)
    tools = models.JSONField(default=dict, blank=True, help_text="tool name -> version")
    capacity = models.PositiveIntegerField(default=1, help_text="runs it may execute at once")
    drained = models.BooleanField(default=False, help_text="takes no new runs")
    last_heartbeat_at = models.DateTimeField(null=True, blank=True)
    last_metrics = models.JSONField(default=dict, blank=True)
    # One-time enrollment token (pme_…) and the long-lived credential (pma_…).
    enrollment_lookup = models.CharField(max_length=16, blank=True, db_index=True)
    enrollment_hash = models.CharField(max_length=64, blank=True)
    enrollment_expires_at = models.DateTimeField(null=True, blank=True)
    credential_lookup = models.CharField(max_length=16, blank=True, db_index=True)
    credential_hash = models.CharField(max_length=64, blank=True)
    enrolled_at = models.DateTimeField(null=True, blank=True)

    objects = TenantManager(include_shared=True)
    all_tenants = models.Manager()

    class Meta:
        default_manager_name = "all_tenants"
        ordering = ["id"]
        constraints = [
            # /api/v1 answers 409 for a hostname registered twice in a tenant.
            models.UniqueConstraint(
                fields=["tenant", "hostname"],
                condition=~models.Q(hostname=""),
                name="agent_unique_hostname_per_tenant",
            ),
        ]

    def __str__(self) -> str:
        return self.id

    @property
    def status(self) -> str:
        """online while heartbeats arrive within PERFMON_AGENT_OFFLINE_AFTER seconds."""
        if self.last_heartbeat_at is None:
            return AgentStatus.OFFLINE
        horizon = timezone.now() - timedelta(seconds=settings.PERFMON_AGENT_OFFLINE_AFTER)
        return AgentStatus.ONLINE if self.last_heartbeat_at >= horizon else AgentStatus.OFFLINE


class AgentMetricSample(models.Model):
    """One heartbeat's host metrics. Append-only and high volume: bigint key."""

    id = models.BigAutoField(primary_key=True)
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="metric_samples")
    recorded_at = models.DateTimeField()
    cpu_percent = models.FloatField(null=True)
    memory_percent = models.FloatField(null=True)
    load1 = models.FloatField(null=True)
    disk_free_gb = models.FloatField(null=True)
    running_runs = models.PositiveIntegerField(default=0)

    objects = TenantManager(tenant_path="agent__tenant", include_shared=True)
    all_tenants = models.Manager()

    class Meta:
        default_manager_name = "all_tenants"
        indexes = [
            # GET /api/agents/{id}/metrics: an agent's recent samples.
            models.Index(fields=["agent", "-recorded_at"], name="agentsample_agent_time"),
        ]

    def __str__(self) -> str:
        return f"{self.agent_id} at {self.recorded_at:%Y-%m-%d %H:%M:%S}"
