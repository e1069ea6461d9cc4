"""Request bodies of /api/v1 are snake_case, and accept the camelCase spelling too (``testId``)."""

from __future__ import annotations

from collections.abc import Mapping

from perfmon.api.common.casing import snake
from perfmon.core.errors import ValidationFailed


def snake_keys(data) -> dict:
    """The top-level keys of a JSON object in snake_case. Raises ValidationFailed for a non-object
    body or a field given in both spellings."""
    if not isinstance(data, Mapping):
        raise ValidationFailed(
            "The request body must be a JSON object.",
            details={"non_field_errors": ["The request body must be a JSON object."]},
        )
    out: dict = {}
    for key, value in data.items():
        name = snake(str(key))
        if name in out:
            raise ValidationFailed(f"{name}: given twice", details={name: ["Given twice (snake_case and camelCase)."]})
        out[name] = value
    return out
