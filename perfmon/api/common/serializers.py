"""Shapes both API surfaces share, in snake_case (a camelCase surface converts them at its edge)."""

from __future__ import annotations

from rest_framework import serializers


class ErrorSerializer(serializers.Serializer):
    """The error envelope of every non-2xx answer."""  # built by perfmon/api/common/errors.py

    error = serializers.CharField(help_text="machine-readable code, e.g. not_found")
    message = serializers.CharField()
    details = serializers.DictField(
        required=False, help_text="per-field messages (field -> list of strings, or nested objects)"
    )
