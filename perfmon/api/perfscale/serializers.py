"""The JSON shapes of /api/v1 (snake_case), as docs/reference/api-perfscale.md documents them.

Input serializers validate request bodies (per-field details in 400s);
output serializers render domain rows. Writes go through the domain
services, never through ``serializer.save()``.
"""

from __future__ import annotations

from fractions import Fraction

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from perfmon.api.common.fields import DistributionField
from perfmon.api.common.metrics import summary_metrics
from perfmon.definitions.models import TestStatus, Tool
from perfmon.fleet.models import AgentStatus
from perfmon.runs.models import RunStatus
from perfmon.runs.reasons import run_reason

# --- auth ---------------------------------------------------------------------


class MeSerializer(serializers.Serializer):
    sub = serializers.CharField(help_text="The provider's user id (Keycloak user UUID)")
    email = serializers.CharField(allow_null=True)
    name = serializers.CharField(allow_null=True)
    preferred_username = serializers.CharField(allow_null=True)
    roles = serializers.ListField(child=serializers.CharField(), help_text="Realm roles assigned to the user")


# --- machines -----------------------------------------------------------------


@extend_schema_field({"type": "number"})
class WholeNumberFloatField(serializers.FloatField):
    """A float that renders 16.0 as 16, as the document shows memory_gb."""

    def to_representation(self, value):
        value = super().to_representation(value)
        return int(value) if value is not None and float(value).is_integer() else value


@extend_schema_field({"anyOf": [{"type": "string", "format": "ipv4"}, {"type": "string", "format": "ipv6"}],
                      "nullable": True, "description": "an IPv4 or IPv6 address"})
class IPAddressField(serializers.IPAddressField):
    """An IP address the schema gives a format to (drf-spectacular gives a bare string for "both")."""


class MachineSerializer(serializers.Serializer):
    id = serializers.CharField(help_text="The agent id (a slug of the name)")
    name = serializers.CharField()
    hostname = serializers.CharField()
    ip_address = IPAddressField(allow_null=True)
    os = serializers.CharField()
    arch = serializers.CharField()
    cpu_cores = serializers.IntegerField(allow_null=True)
    memory_gb = WholeNumberFloatField(allow_null=True)
    status = serializers.ChoiceField(choices=AgentStatus.choices)
    drained = serializers.BooleanField(help_text="Takes no new tasks (set by a DELETE while tasks run)")


class RegisteredMachineSerializer(MachineSerializer):
    enrollment_token = serializers.CharField(
        help_text="One-time token the agent on this host enrolls with; shown only in this answer"
    )


class MachineCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    hostname = serializers.CharField(max_length=255)
    ip_address = IPAddressField(required=False, allow_null=True)
    os = serializers.CharField(max_length=32, required=False, allow_blank=True, default="")
    arch = serializers.CharField(max_length=32, required=False, allow_blank=True, default="")
    cpu_cores = serializers.IntegerField(min_value=1, max_value=100_000, required=False, allow_null=True)
    memory_gb = serializers.FloatField(min_value=0, max_value=1_000_000, required=False, allow_null=True)


# --- tests --------------------------------------------------------------------


class TestSerializer(serializers.Serializer):
    __test__ = False  # not a pytest test class

    id = serializers.UUIDField()
    name = serializers.CharField()
    tool = serializers.ChoiceField(choices=Tool.choices)
    status = serializers.ChoiceField(choices=TestStatus.choices)
    script = serializers.CharField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    # Beyond the document: how each run of the test is split over agents (docs/distributed.md).
    distribution = DistributionField()


class TestCreateSerializer(serializers.Serializer):
    __test__ = False

    name = serializers.CharField(max_length=200)
    tool = serializers.ChoiceField(choices=Tool.choices)
    script = serializers.CharField(trim_whitespace=False)
    status = serializers.ChoiceField(choices=TestStatus.choices, required=False, default=TestStatus.DRAFT)
    distribution = DistributionField(required=False)


class TestUpdateSerializer(serializers.Serializer):
    __test__ = False

    name = serializers.CharField(max_length=200, required=False)
    script = serializers.CharField(trim_whitespace=False, required=False)
    status = serializers.ChoiceField(choices=TestStatus.choices, required=False)
    distribution = DistributionField(required=False)


# --- tasks --------------------------------------------------------------------

# A run's status as a perfscale task (docs/auth.md and docs/api.md): the detailed one is kept beside it.
TASK_STATUS = {
    RunStatus.QUEUED: "pending",
    RunStatus.RUNNING: "running",
    RunStatus.PASS: "passed",
    RunStatus.FAIL: "failed",
    RunStatus.ERROR: "failed",
    RunStatus.CANCELLED: "cancelled",
    RunStatus.SKIPPED: "cancelled",
}
TASK_STATUSES = ("pending", "running", "passed", "failed", "cancelled")


def task_status(run_status: str) -> str:
    return TASK_STATUS.get(run_status, "failed")


class TaskPartSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    machine_id = serializers.CharField(allow_null=True)
    location = serializers.CharField()
    share = serializers.FloatField(help_text="The part's fraction of the load, 0..1")
    status = serializers.CharField(help_text="queued, preparing, ready, running, completed, failed, cancelled, lost")
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    p50 = serializers.FloatField(allow_null=True)
    p95 = serializers.FloatField(allow_null=True)
    p99 = serializers.FloatField(allow_null=True)
    error_rate = serializers.FloatField(allow_null=True)
    requests_per_sec = serializers.FloatField(allow_null=True)
    total_requests = serializers.IntegerField(allow_null=True)


def _part_figures(part) -> dict:
    figures = summary_metrics(part.metrics)
    return {
        "index": part.index, "machine_id": part.agent_id, "location": part.location,
        "share": float(Fraction(part.share)), "status": part.status, "started_at": part.started_at,
        "finished_at": part.completed_at, "p50": figures["p50"], "p95": figures["p95"], "p99": figures["p99"],
        "error_rate": figures["error_rate"], "requests_per_sec": figures["throughput"],
        "total_requests": figures["total_requests"],
    }


class TaskSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    test_id = serializers.UUIDField(allow_null=True, help_text="null once the test was deleted")
    status = serializers.ChoiceField(choices=TASK_STATUSES)
    p50 = serializers.FloatField(allow_null=True, help_text="Median latency, ms")
    p95 = serializers.FloatField(allow_null=True, help_text="95th percentile latency, ms")
    p99 = serializers.FloatField(allow_null=True, help_text="99th percentile latency, ms")
    error_rate = serializers.FloatField(allow_null=True, help_text="Failed requests / requests, 0..1")
    requests_per_sec = serializers.FloatField(allow_null=True)
    total_requests = serializers.IntegerField(allow_null=True)
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    # Beyond the document: the run's own detail.
    detailed_status = serializers.ChoiceField(choices=RunStatus.choices, help_text="The run's status: queued, running, pass, fail, error, cancelled")
    machine_id = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()
    error = serializers.CharField(allow_blank=True, help_text="Why the task failed or was cancelled")
    reason = serializers.CharField(
        allow_null=True,
        help_text="Why the run has its detailed status: what crashed (error), the breached thresholds (fail), "
        "why and by whom it was cancelled, a pending cancellation; null for a pass",
    )
    parts = TaskPartSerializer(many=True, help_text="A split run's parts, one per machine (empty: one machine)")

    def to_representation(self, run):
        figures = summary_metrics(run.metrics)
        data = {
            "id": run.pk,
            "test_id": run.test_id,
            "status": task_status(run.status),
            "p50": figures["p50"],
            "p95": figures["p95"],
            "p99": figures["p99"],
            "error_rate": figures["error_rate"],
            "requests_per_sec": figures["throughput"],
            "total_requests": figures["total_requests"],
            "started_at": run.started_at,
            "finished_at": run.completed_at,
            "detailed_status": run.status,
            "machine_id": run.agent_id,
            "created_at": run.created_at,
            "error": run.error or run.status_reason or "",
            "reason": run_reason(run),
            "parts": [_part_figures(part) for part in run.parts.all()] if run.is_split else [],
        }
        return super().to_representation(data)  # DRF reads fields of a mapping by key


class TaskCreateSerializer(serializers.Serializer):
    test_id = serializers.CharField(help_text="The test to run (also accepted as testId)")


class TaskAcceptedSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=TASK_STATUSES)
