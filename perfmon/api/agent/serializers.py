"""Validation of what agents post. Cheap on purpose: ingest is a hot path.

The run's final report is read by runners.protocol.RunReport, the class the agent writes it with.
"""

from __future__ import annotations

from rest_framework import serializers

from perfmon.fleet.models import agent_id_validator

MAX_BATCH = 1000
MAX_CHUNK_CHARS = 256 * 1024


class HostFactsSerializer(serializers.Serializer):
    hostname = serializers.CharField(max_length=255, required=False, allow_blank=True)
    ip_address = serializers.IPAddressField(required=False, allow_null=True)
    os = serializers.CharField(max_length=32, required=False, allow_blank=True)
    arch = serializers.CharField(max_length=32, required=False, allow_blank=True)
    cpu_cores = serializers.IntegerField(min_value=0, required=False, allow_null=True)
    memory_gb = serializers.FloatField(min_value=0, required=False, allow_null=True)
    version = serializers.CharField(max_length=32, required=False, allow_blank=True)
    tools = serializers.DictField(child=serializers.CharField(max_length=64, allow_blank=True), required=False)
    capacity = serializers.IntegerField(min_value=1, max_value=1000, required=False)


class EnrollSerializer(HostFactsSerializer):
    token = serializers.CharField(max_length=200)
    agent_id = serializers.CharField(max_length=63, required=False, validators=[agent_id_validator])
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    location = serializers.CharField(max_length=63, required=False, allow_blank=True)


class MetricsSerializer(serializers.Serializer):
    cpu_percent = serializers.FloatField(required=False, allow_null=True)
    memory_percent = serializers.FloatField(required=False, allow_null=True)
    load1 = serializers.FloatField(required=False, allow_null=True)
    disk_free_gb = serializers.FloatField(required=False, allow_null=True)


class HeartbeatSerializer(HostFactsSerializer):
    metrics = MetricsSerializer(required=False, default=dict)
    running_runs = serializers.ListField(child=serializers.UUIDField(), max_length=1000, required=False, default=list)


class ClaimSerializer(serializers.Serializer):
    claim_id = serializers.UUIDField()


class LogChunkSerializer(serializers.Serializer):
    seq = serializers.IntegerField(min_value=0)
    text = serializers.CharField(max_length=MAX_CHUNK_CHARS, allow_blank=True, trim_whitespace=False)


class LogsSerializer(serializers.Serializer):
    chunks = LogChunkSerializer(many=True, max_length=MAX_BATCH)
