"""Ids as clients send them: whole UUIDs, possibly malformed, and shortened ones (the dashboard
shows a UUID's first characters, and clients may send them back)."""

from __future__ import annotations

import re
import uuid

# Long enough that a tenant's ids rarely share one (16^6 = 16.7 million), short enough to type.
MIN_PREFIX = 6
_HEX = re.compile("[0-9a-f]+")


def as_uuid(value) -> uuid.UUID | None:
    """``value`` as a UUID, or None when it is not one (a malformed id is simply not found)."""
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError, AttributeError):
        return None


def prefix_bounds(prefix: str) -> tuple[uuid.UUID, uuid.UUID]:
    """The lowest and highest UUID that start with ``prefix`` (hex digits; dashes and case ignored).

    A range rather than a text match, so the primary-key index serves the lookup: PostgreSQL
    orders uuid values by their bytes and SQLite stores them as hex text, both in hex-digit order.
    Raises ValueError saying what is wrong with the prefix.
    """
    digits = str(prefix).strip().lower().replace("-", "")
    if not _HEX.fullmatch(digits):
        raise ValueError("An id prefix is made of hexadecimal digits (0-9, a-f).")
    if not MIN_PREFIX <= len(digits) <= 32:
        raise ValueError(f"An id prefix has {MIN_PREFIX} to 32 hexadecimal digits, got {len(digits)}.")
    return uuid.UUID(digits.ljust(32, "0")), uuid.UUID(digits.ljust(32, "f"))


def with_id_prefix(queryset, prefix: str):
    """``queryset`` narrowed to rows whose UUID primary key starts with ``prefix`` (see prefix_bounds)."""
    low, high = prefix_bounds(prefix)
    return queryset.filter(pk__gte=low, pk__lte=high)
