"""Runs of a test, their streamed logs and per-interval series."""

from __future__ import annotations

import uuid

from django.db import models

from perfmon.core.models import TimeStamped
from perfmon.core.scoping import TenantManager


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    PASS = "pass", "Pass"
    FAIL = "fail", "Fail"  # judged: a threshold was breached
    ERROR = "error", "Error"  # crashed: tool failed, agent lost, no agent
    CANCELLED = "cancelled", "Cancelled"
    SKIPPED = "skipped", "Skipped"  # a scheduled tick found the previous run still active

    @classmethod
    def active(cls) -> frozenset[str]:
        return frozenset({cls.QUEUED, cls.RUNNING})

    @classmethod
    def final(cls) -> frozenset[str]:
        return frozenset({cls.PASS, cls.FAIL, cls.ERROR, cls.CANCELLED, cls.SKIPPED})


class RunTrigger(models.TextChoices):
    SCHEDULE = "schedule", "Schedule"
    MANUAL = "manual", "Manual"
    API = "api", "API"


class Run(TimeStamped):
    """One execution of a test on one agent.

    The script, parameters and thresholds are copied at dispatch so a run
    is judged by what it ran, whatever happens to the definition later.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="runs")
    # History outlives definitions: deleting a monitor or test keeps its runs.
    monitor = models.ForeignKey(
        "monitors.Monitor", on_delete=models.SET_NULL, null=True, blank=True, related_name="runs"
    )
    test = models.ForeignKey(
        "definitions.TestDefinition", on_delete=models.SET_NULL, null=True, blank=True, related_name="runs"
    )
    agent = models.ForeignKey(
        "fleet.Agent", on_delete=models.SET_NULL, null=True, blank=True, related_name="runs"
    )
    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.QUEUED)
    status_reason = models.TextField(blank=True)
    trigger = models.CharField(max_length=16, choices=RunTrigger.choices, default=RunTrigger.MANUAL)
    scheduled_for = models.DateTimeField(null=True, blank=True, help_text="the due time a tick ran it for")
    tool = models.CharField(max_length=16)
    script = models.TextField(blank=True)
    parameters = models.JSONField(default=dict, blank=True)
    thresholds = models.JSONField(default=dict, blank=True)
    apdex_t_ms = models.PositiveIntegerField(default=500)
    published_at = models.DateTimeField(null=True, blank=True)
    # Which execution of the agent claimed the run: a redelivered message gets a new one.
    claim_id = models.UUIDField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    # When the agent's report judged the run; NULL while it runs and for a run ended otherwise (agent
    # lost, expired, cancelled before it started). Only that report may be repeated (docs/agents.md).
    reported_at = models.DateTimeField(null=True, blank=True)
    cancel_requested_at = models.DateTimeField(null=True, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    histogram = models.TextField(blank=True, help_text="encoded HDR latency histogram")
    # The per-request breakdown (runners.requests.RequestEntry dicts) and the checks, kept beside
    # the summary so lists that read metrics never load them.
    requests = models.JSONField(default=list, blank=True)
    checks = models.JSONField(default=dict, blank=True)
    breaches = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True)
    # A split run (copied from its test at dispatch): the run has one RunPart per agent and no agent
    # of its own; started_at is the common start the parts were released at. NULL: one agent.
    distribution = models.JSONField(null=True, blank=True)

    objects = TenantManager()
    all_tenants = models.Manager()

    class Meta:
        default_manager_name = "all_tenants"
        ordering = ["-created_at"]
        indexes = [
            # GET /api/monitors/{id}/runs: a monitor's runs, newest first.
            models.Index(fields=["monitor", "-created_at"], name="run_monitor_created"),
            # GET /api/v1/tasks: a tenant's runs, newest first.
            models.Index(fields=["tenant", "-created_at"], name="run_tenant_created"),
            # The sweeper and capacity checks: active runs by agent.
            models.Index(
                fields=["agent", "status"],
                condition=models.Q(status__in=["queued", "running"]),
                name="run_active_by_agent",
            ),
        ]
        constraints = [
            # A monitor never runs twice at once.
            models.UniqueConstraint(
                fields=["monitor"],
                condition=models.Q(status__in=["queued", "running"]),
                name="run_one_active_per_monitor",
            ),
        ]

    def __str__(self) -> str:
        return f"run {self.id} ({self.status})"

    @property
    def is_final(self) -> bool:
        return self.status in RunStatus.final()

    @property
    def is_split(self) -> bool:
        return self.distribution is not None


class PartStatus(models.TextChoices):
    QUEUED = "queued", "Queued"  # published to its agent, not claimed yet
    PREPARING = "preparing", "Preparing"  # claimed: the agent prepares the work dir, script and tool
    READY = "ready", "Ready"  # prepared, waiting for the common start
    RUNNING = "running", "Running"  # released: the tool runs
    COMPLETED = "completed", "Completed"  # the tool ran to its end
    FAILED = "failed", "Failed"  # the tool failed, timed out, or the agent could not run it
    CANCELLED = "cancelled", "Cancelled"  # stopped (cancelled, or the run ended) or never started
    LOST = "lost", "Lost"  # its agent stopped sending heartbeats

    @classmethod
    def active(cls) -> frozenset[str]:
        return frozenset({cls.QUEUED, cls.PREPARING, cls.READY, cls.RUNNING})

    @classmethod
    def final(cls) -> frozenset[str]:
        return frozenset({cls.COMPLETED, cls.FAILED, cls.CANCELLED, cls.LOST})


class RunPart(models.Model):
    """One agent's part of a split run: its share of the load, its own status and result.

    The agent addresses a part by the part's id wherever the agent API takes a
    run id; the run's merged figures are computed from its parts' results
    (perfmon/runs/parts.py).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="parts")
    index = models.PositiveSmallIntegerField()
    agent = models.ForeignKey(
        "fleet.Agent", on_delete=models.SET_NULL, null=True, blank=True, related_name="run_parts"
    )
    location = models.CharField(max_length=63, blank=True)
    share = models.CharField(max_length=32, help_text="exact fraction of the run's load (3/5)")
    status = models.CharField(max_length=16, choices=PartStatus.choices, default=PartStatus.QUEUED)
    claim_id = models.UUIDField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    ready_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    # When its agent's report ended the part; NULL for a part ended otherwise (lost, stopped).
    reported_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=16, blank=True)
    exit_code = models.IntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    histogram = models.TextField(blank=True)
    requests = models.JSONField(default=list, blank=True)
    checks = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = TenantManager(tenant_path="run__tenant")
    all_tenants = models.Manager()

    class Meta:
        default_manager_name = "all_tenants"
        ordering = ["run", "index"]
        constraints = [
            models.UniqueConstraint(fields=["run", "index"], name="runpart_run_index"),
        ]
        indexes = [
            # Heartbeats, the sweeper and placement: active parts by agent.
            models.Index(
                fields=["agent", "status"],
                condition=models.Q(status__in=["queued", "preparing", "ready", "running"]),
                name="runpart_active_by_agent",
            ),
        ]

    def __str__(self) -> str:
        return f"part {self.index} of run {self.run_id} ({self.status})"

    @property
    def is_final(self) -> bool:
        return self.status in PartStatus.final()


class RunLogChunk(models.Model):
    """A numbered piece of a run's tool output; (run, seq) makes retried posts idempotent."""

    id = models.BigAutoField(primary_key=True)
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="log_chunks")
    part = models.PositiveSmallIntegerField(default=0, help_text="the part's index in a split run")
    seq = models.PositiveIntegerField()
    text = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantManager(tenant_path="run__tenant")
    all_tenants = models.Manager()

    class Meta:
        default_manager_name = "all_tenants"
        constraints = [
            # Also the index GET /api/runs/{id}/logs reads in order.
            models.UniqueConstraint(fields=["run", "part", "seq"], name="runlog_run_part_seq"),
        ]

    def __str__(self) -> str:
        return f"log {self.run_id} #{self.seq}"


class SeriesPoint(models.Model):
    """One interval of a run's metrics (1 s from agents), with its HDR histogram."""

    id = models.BigAutoField(primary_key=True)
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="series")
    part = models.PositiveSmallIntegerField(default=0, help_text="the part's index in a split run")
    seq = models.PositiveIntegerField()
    start = models.DateTimeField()
    interval_s = models.FloatField()
    count = models.PositiveIntegerField()
    errors = models.PositiveIntegerField()
    p50_ms = models.FloatField(null=True)
    p95_ms = models.FloatField(null=True)
    p99_ms = models.FloatField(null=True)
    throughput_rps = models.FloatField()
    histogram = models.TextField(blank=True)
    # Seconds of the interval the run covered (its first and last are partial);
    # throughput_rps = count / covered_s. NULL: the whole interval (older agents).
    covered_s = models.FloatField(null=True)
    p90_ms = models.FloatField(null=True)
    # The most virtual users (threads, users) active in the interval; NULL: the tool did not say.
    vus = models.PositiveIntegerField(null=True)

    objects = TenantManager(tenant_path="run__tenant")
    all_tenants = models.Manager()

    class Meta:
        default_manager_name = "all_tenants"
        constraints = [
            # Idempotent ingest, and the index that reads a run's series in order.
            models.UniqueConstraint(fields=["run", "part", "seq"], name="series_run_part_seq"),
        ]

    def __str__(self) -> str:
        return f"series {self.run_id} #{self.seq}"
