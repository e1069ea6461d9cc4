"""Test definitions: a script for one load tool."""

from __future__ import annotations

import uuid

from django.db import models

from perfmon.core.models import TimeStamped
from perfmon.core.scoping import TenantManager


class Tool(models.TextChoices):
    """The tools of the API documents' enum; runners/ has one adapter each."""

    K6 = "k6", "k6"
    JMETER = "jmeter", "JMeter"
    LOCUST = "locust", "Locust"
    ARTILLERY = "artillery", "Artillery"
    GATLING = "gatling", "Gatling"
    CUSTOM = "custom", "Custom command"


class TestStatus(models.TextChoices):
    __test__ = False  # not a pytest test class, whatever its name says

    DRAFT = "draft", "Draft"
    ACTIVE = "active", "Active"
    ARCHIVED = "archived", "Archived"


class TestDefinition(TimeStamped):
    """A load-test script. A monitor owns one; /api/v1 tests are standalone ones."""

    __test__ = False  # not a pytest test class, whatever its name says

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="test_definitions")
    name = models.CharField(max_length=200)
    tool = models.CharField(max_length=16, choices=Tool.choices)
    script = models.TextField()
    script_filename = models.CharField(max_length=255, blank=True)
    status = models.CharField(max_length=16, choices=TestStatus.choices, default=TestStatus.DRAFT)
    parameters = models.JSONField(default=dict, blank=True)
    # Split each run over several agents: {"agents": N} or {"locations": {...}, "agentsPerLocation": k}
    # (runners.validation.clean_distribution); NULL runs on one agent.
    distribution = models.JSONField(null=True, blank=True)

    objects = TenantManager()
    all_tenants = models.Manager()

    class Meta:
        default_manager_name = "all_tenants"
        ordering = ["-created_at"]
        indexes = [
            # The /api/v1/tests list: a tenant's tests, newest first.
            models.Index(fields=["tenant", "-created_at"], name="testdef_tenant_created"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.tool})"
