"""The shapes of the perf-monitor API (/api), in snake_case.

The surface's parsers, renderer and schema put them on the wire in
camelCase (casing.py): ``agent_id`` is ``agentId``, ``apdex_t`` is
``apdexT``. Input serializers validate and translate to the services'
keyword arguments; output serializers render the documented fields (and a
few additive ones, listed in docs/api.md). ``source=`` appears only where
the name differs from the model's beyond casing.
"""

from __future__ import annotations

from fractions import Fraction
from zoneinfo import available_timezones

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from perfmon.alerts.services import MAX_NOTE_LENGTH
from perfmon.api.common.fields import (
    Base64ScriptField,
    DistributionField,
    ParametersField,
    ScriptUploadField,
    ThresholdsField,
)
from perfmon.api.common.metrics import summary_metrics
from perfmon.core.errors import NotFound
from perfmon.definitions.models import Tool
from perfmon.fleet.selectors import agent_visible_to
from perfmon.monitors import schedule as cron
from perfmon.monitors.models import DEFAULT_APDEX_T_MS
from perfmon.monitors.services import MAX_APDEX_T_MS
from perfmon.runs.models import PartStatus
from perfmon.runs.reasons import run_reason

# --- monitors -------------------------------------------------------------

_TOOLS = ", ".join(Tool.values)


# A five-field cron expression as the schema states it: per field its numbers (month and weekday names in
# any case), ranges, steps and lists. schedule.validate also refuses a range that runs backwards or a
# schedule that never fires (30 February), which no pattern can say.
def _names(*names: str) -> str:
    return "|".join("".join(f"[{ch.lower()}{ch.upper()}]" for ch in name) for name in names)


def _cron_field(number: str) -> str:
    item = rf"(\*|({number})(-({number}))?)(/(0?[1-9]|[1-9][0-9]))?"
    return rf"{item}(,{item})*"


_MONTHS = _names("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAYS = _names("sun", "mon", "tue", "wed", "thu", "fri", "sat")
CRON_PATTERN = r"^\s*" + r"\s+".join(_cron_field(number) for number in (
    "[0-5]?[0-9]", "[01]?[0-9]|2[0-3]", "0?[1-9]|[12][0-9]|3[01]", f"0?[1-9]|1[0-2]|{_MONTHS}", f"0?[0-7]|{_DAYS}",
)) + r"\s*$"


@extend_schema_field({"type": "string", "pattern": CRON_PATTERN, "maxLength": 120,
                      "description": "five-field cron expression, e.g. */15 * * * *"})
class ScheduleField(serializers.CharField):
    """A cron expression, checked by perfmon.monitors.schedule."""


@extend_schema_field({"type": "string", "enum": sorted(available_timezones()),
                      "description": "IANA time zone the schedule is read in (default UTC)"})
class TimezoneField(serializers.CharField):
    """An IANA time zone name."""


class MonitorWriteSerializer(serializers.Serializer):
    """Every field a monitor accepts; create needs name, tool, schedule and one script."""

    name = serializers.CharField(max_length=200)
    tool = serializers.ChoiceField(
        choices=Tool.choices, error_messages={"invalid_choice": f'Unknown tool "{{input}}"; use one of {_TOOLS}.'}
    )
    schedule = ScheduleField(max_length=120)
    timezone = TimezoneField(max_length=64, required=False)
    enabled = serializers.BooleanField(required=False, help_text="default true")
    thresholds = ThresholdsField(required=False, allow_null=True, help_text="null clears them")
    parameters = ParametersField(
        required=False, allow_null=True, help_text="passed to the tool as environment variables; null clears them"
    )
    script_content = Base64ScriptField(required=False, help_text="the script, base64 (JSON bodies)")
    script = ScriptUploadField(required=False, help_text="the script file (multipart bodies)")
    script_filename = serializers.CharField(
        max_length=255, required=False, allow_blank=True, help_text="file name for scriptContent (optional)"
    )
    agent_id = serializers.CharField(
        source="agent", max_length=63, required=False, allow_null=True, allow_blank=True,
        help_text="pin runs to this agent (null: no pin)",
    )
    location = serializers.CharField(
        max_length=63, required=False, allow_blank=True, help_text="run on an agent of this location"
    )
    apdex_t = serializers.IntegerField(
        source="apdex_t_ms", min_value=1, max_value=MAX_APDEX_T_MS, required=False,
        help_text=f"Apdex T in milliseconds (default {DEFAULT_APDEX_T_MS})",
    )
    distribution = DistributionField(required=False)

    def validate_schedule(self, value: str) -> str:
        try:
            return cron.validate(value)
        except cron.InvalidSchedule as exc:
            raise serializers.ValidationError(str(exc)) from None

    def validate_timezone(self, value: str) -> str:
        try:
            cron.zone(value)
        except cron.InvalidSchedule as exc:
            raise serializers.ValidationError(str(exc)) from None
        return value

    def validate_agent_id(self, value):
        if not value:
            return None
        try:
            return agent_visible_to(self.context["tenant"], value)
        except NotFound:
            raise serializers.ValidationError(f"Unknown agent '{value}'.") from None

    def validate(self, attrs):
        given = [name for name in ("script", "script_content") if name in attrs]
        if len(given) > 1:
            raise serializers.ValidationError(
                {"script": ["Send the script once: a file (script) or base64 (scriptContent), not both."]}
            )
        if not self.partial and not given:
            raise serializers.ValidationError(
                {"script_content": ["A script is required: upload a file as script or send base64 scriptContent."]}
            )
        if "script_filename" in attrs and "script_content" not in attrs:
            raise serializers.ValidationError({"script_filename": ["Only used together with scriptContent."]})
        return attrs

    def service_kwargs(self) -> dict:
        """The validated data as keyword arguments of create_monitor / update_monitor."""
        data = dict(self.validated_data)
        if "script" in data:  # an upload: (text, file name)
            data["script"], data["script_filename"] = data["script"]
        elif "script_content" in data:
            data["script"] = data.pop("script_content")
            data.setdefault("script_filename", "")
        return data


class MonitorJsonCreateSerializer(MonitorWriteSerializer):
    """The JSON create body (schema only): the script as base64."""

    script = None
    script_content = Base64ScriptField(help_text="the script, base64")


class MonitorMultipartCreateSerializer(MonitorWriteSerializer):
    """The multipart create body (schema only): the script as a file upload."""

    script_content = None
    script_filename = None
    script = serializers.FileField(help_text="the script file")


class MonitorSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    tool = serializers.ChoiceField(source="test.tool", choices=Tool.choices)
    schedule = serializers.CharField()
    schedule_description = serializers.SerializerMethodField()
    timezone = serializers.CharField()
    enabled = serializers.BooleanField()
    thresholds = ThresholdsField()
    parameters = ParametersField()
    apdex_t = serializers.IntegerField(source="apdex_t_ms")
    agent_id = serializers.CharField(allow_null=True)
    location = serializers.CharField()
    distribution = DistributionField(source="test.distribution")
    script_filename = serializers.CharField(source="test.script_filename")
    next_run_at = serializers.DateTimeField(allow_null=True)
    last_run = serializers.DateTimeField(source="last_run_at", allow_null=True)
    last_status = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def get_schedule_description(self, monitor) -> str:
        return cron.describe(monitor.schedule)

    @extend_schema_field(
        serializers.ChoiceField(choices=["pass", "fail", "error", "cancelled", "skipped"], allow_null=True)
    )
    def get_last_status(self, monitor):
        return monitor.last_status or None


class MonitorDetailSerializer(MonitorSerializer):
    script_content = Base64ScriptField(source="test.script", help_text="the script, base64")


class RunRequestedSerializer(serializers.Serializer):
    run_id = serializers.UUIDField()
    status = serializers.CharField(help_text="queued (or error when no agent can take the run)")


# --- runs -----------------------------------------------------------------

class RunMetricsSerializer(serializers.Serializer):
    """Schema of a run's metrics; every figure is null until the run has a result."""

    p50 = serializers.FloatField(allow_null=True, help_text="ms")
    p95 = serializers.FloatField(allow_null=True, help_text="ms")
    avg = serializers.FloatField(allow_null=True, help_text="ms")
    error_rate = serializers.FloatField(allow_null=True, help_text="failed / total requests, 0..1")
    throughput = serializers.FloatField(allow_null=True, help_text="requests per second")
    p99 = serializers.FloatField(allow_null=True, help_text="ms")
    min = serializers.FloatField(allow_null=True, help_text="ms")
    max = serializers.FloatField(allow_null=True, help_text="ms")
    total_requests = serializers.IntegerField(allow_null=True)
    apdex = serializers.FloatField(allow_null=True, help_text="0..1 for the monitor's apdexT")


class BreachSerializer(serializers.Serializer):
    metric = serializers.CharField(help_text="latencyMs, errorRatePercent or apdexMin")
    threshold = serializers.FloatField()
    actual = serializers.FloatField()
    request = serializers.CharField(
        required=False, help_text="added: the request name, for a threshold of one name (thresholds.requests); "
                                  "absent for the run's own thresholds")


class RunSerializer(serializers.Serializer):
    """The documented fields of a run, and ``reason`` (added: docs/api.md)."""

    id = serializers.UUIDField()
    monitor_id = serializers.UUIDField(allow_null=True)
    started_at = serializers.DateTimeField(allow_null=True)
    completed_at = serializers.DateTimeField(allow_null=True)
    status = serializers.CharField()
    tool = serializers.CharField()
    metrics = serializers.SerializerMethodField()
    threshold_breaches = serializers.SerializerMethodField()
    agent_id = serializers.CharField(allow_null=True, help_text="null for a split run: see its parts")
    reason = serializers.SerializerMethodField(
        help_text="why the run has its status: what crashed (error), the breached thresholds (fail), why and "
        "by whom it was skipped or cancelled, a pending cancellation (queued, running); null for a pass"
    )
    distribution = DistributionField(help_text="how the run was split over agents (null: one agent)")

    @extend_schema_field(RunMetricsSerializer)
    def get_metrics(self, run) -> dict:
        return summary_metrics(run.metrics)

    @extend_schema_field(BreachSerializer(many=True))
    def get_threshold_breaches(self, run) -> list:
        return [breach for breach in (run.breaches or []) if isinstance(breach, dict)]

    def get_reason(self, run) -> str | None:
        return run_reason(run)


class RunPartSerializer(serializers.Serializer):
    """One agent's part of a split run, with its own figures."""

    index = serializers.IntegerField()
    agent_id = serializers.CharField(allow_null=True)
    location = serializers.CharField()
    share = serializers.SerializerMethodField(help_text="the part's fraction of the run's load (0..1)")
    status = serializers.ChoiceField(choices=PartStatus.choices)
    started_at = serializers.DateTimeField(allow_null=True)
    completed_at = serializers.DateTimeField(allow_null=True)
    error = serializers.CharField()
    metrics = serializers.SerializerMethodField()

    def get_share(self, part) -> float:
        return float(Fraction(part.share))

    @extend_schema_field(RunMetricsSerializer)
    def get_metrics(self, part) -> dict:
        return summary_metrics(part.metrics)


class RunPageSerializer(serializers.Serializer):
    runs = RunSerializer(many=True)
    total = serializers.IntegerField(help_text="matching runs in all")
    limit = serializers.IntegerField()
    offset = serializers.IntegerField()


# --- alerts ---------------------------------------------------------------


class AlertSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    monitor_id = serializers.UUIDField(allow_null=True)
    agent_id = serializers.CharField(allow_null=True)
    kind = serializers.CharField(help_text="run_failed, run_error or agent_offline")
    state = serializers.CharField(help_text="open, acknowledged or resolved")
    title = serializers.CharField()
    details = serializers.JSONField()
    occurrences = serializers.IntegerField()
    opened_at = serializers.DateTimeField()
    resolved_at = serializers.DateTimeField(allow_null=True)
    acknowledged_at = serializers.DateTimeField(allow_null=True)
    acknowledged_by = serializers.SerializerMethodField()
    note = serializers.CharField()
    first_run_id = serializers.UUIDField(allow_null=True)
    last_run_id = serializers.UUIDField(allow_null=True)

    def get_acknowledged_by(self, alert) -> str | None:
        return alert.acknowledged_by_label or None


class AcknowledgeSerializer(serializers.Serializer):
    note = serializers.CharField(max_length=MAX_NOTE_LENGTH, required=False, allow_blank=True)


# --- agents ---------------------------------------------------------------


class AgentSerializer(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()
    status = serializers.ChoiceField(choices=["online", "offline"])
    last_heartbeat = serializers.DateTimeField(source="last_heartbeat_at", allow_null=True)
    location = serializers.CharField()
    shared = serializers.SerializerMethodField()
    version = serializers.CharField()
    tools = serializers.DictField(child=serializers.CharField(), help_text="tool -> version")
    capacity = serializers.IntegerField()
    drained = serializers.BooleanField()

    def get_shared(self, agent) -> bool:
        return agent.tenant_id is None


class AgentSampleSerializer(serializers.Serializer):
    recorded_at = serializers.DateTimeField()
    cpu_percent = serializers.FloatField(allow_null=True)
    memory_percent = serializers.FloatField(allow_null=True)
    load1 = serializers.FloatField(allow_null=True)
    disk_free_gb = serializers.FloatField(allow_null=True)
    running_runs = serializers.IntegerField()


class AgentRunCountsSerializer(serializers.Serializer):
    window_hours = serializers.IntegerField()
    total = serializers.IntegerField()
    active = serializers.IntegerField(help_text="queued + running")
    by_status = serializers.DictField(child=serializers.IntegerField())


class AgentMetricsSerializer(serializers.Serializer):
    agent_id = serializers.CharField()
    status = serializers.ChoiceField(choices=["online", "offline"])
    last_heartbeat = serializers.DateTimeField(allow_null=True)
    samples = AgentSampleSerializer(many=True)
    runs = AgentRunCountsSerializer()


# --- settings -------------------------------------------------------------


class LicenseSerializer(serializers.Serializer):
    tier = serializers.CharField()
    monitor_limit = serializers.IntegerField()
    monitors_used = serializers.IntegerField()
    valid_until = serializers.DateTimeField(allow_null=True, help_text="null for the community tier")
    licensed = serializers.BooleanField(help_text="false: no license key installed (community tier)")
    expired = serializers.BooleanField()


class LicenseUpdateSerializer(serializers.Serializer):
    license_key = serializers.CharField(trim_whitespace=True)
