"""Limit/offset query parameters, validated strictly (a bad value is a 400, never a silent default)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from perfmon.api.common.fields import ascii_integer
from perfmon.api.common.openapi import BIGINT_MAX, integer_query
from perfmon.core.errors import ValidationFailed


@dataclass(frozen=True)
class Window:
    """Which slice of a list a request asked for."""

    limit: int
    offset: int

    def slice(self, queryset):
        return queryset[self.offset : self.offset + self.limit]


def _integer(params: Mapping, name: str, default: int, low: int, high: int | None, errors: dict) -> int:
    raw = params.get(name)
    if raw is None:
        return default
    value = ascii_integer(str(raw).strip())
    if value is None:
        errors[name] = ["A whole number is required."]
        return default
    if value < low or (high is not None and value > high):
        errors[name] = [f"Must be between {low} and {high}." if high is not None else f"Must be at least {low}."]
    return value


def parse_window(params: Mapping, *, default_limit: int, max_limit: int, max_offset: int = BIGINT_MAX) -> Window:
    """``limit`` (1..max_limit, default ``default_limit``) and ``offset`` (>= 0) from query parameters.

    Raises ValidationFailed with per-parameter details for non-integers or out-of-range values.
    """
    errors: dict[str, list[str]] = {}
    limit = _integer(params, "limit", default_limit, 1, max_limit, errors)
    offset = _integer(params, "offset", 0, 0, max_offset, errors)
    if errors:
        name, messages = next(iter(errors.items()))
        raise ValidationFailed(f"{name}: {messages[0]}", details=errors)
    return Window(limit=limit, offset=offset)


def window_parameters(*, default_limit: int, max_limit: int, max_offset: int = BIGINT_MAX) -> list:
    """The OpenAPI parameters of parse_window's ``limit`` and ``offset``, with the same bounds."""
    limit = integer_query("limit", 1, max_limit, f"1..{max_limit}, default {default_limit}")
    if max_offset == 0:
        return [limit]
    return [limit, integer_query("offset", 0, max_offset, "rows to skip, default 0")]
