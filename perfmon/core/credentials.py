"""Prefixed bearer secrets: tenant API keys (``pmk_``) and agent tokens (``pma_``, ``pme_``).

A secret reads ``<kind>_<lookup>_<secret>``. ``lookup`` is a short public id
stored in clear and indexed, so a presented secret is found with one
indexed query and then compared, in constant time, against the stored
SHA-256 of the whole string. The secrets are 256 random bits, so a fast
hash is sufficient (a slow KDF protects low-entropy passwords, not these),
and it keeps authentication off the hot path's CPU budget.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string
from dataclasses import dataclass

_LOOKUP_ALPHABET = string.ascii_lowercase + string.digits
LOOKUP_LENGTH = 10


@dataclass(frozen=True)
class IssuedSecret:
    """A freshly generated secret: ``value`` is shown once and never stored."""

    value: str
    lookup: str
    digest: str


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def issue(kind: str) -> IssuedSecret:
    """A new secret of ``kind`` (``pmk``, ``pma``, ``pme``)."""
    lookup = "".join(secrets.choice(_LOOKUP_ALPHABET) for _ in range(LOOKUP_LENGTH))
    value = f"{kind}_{lookup}_{secrets.token_urlsafe(32)}"
    return IssuedSecret(value=value, lookup=lookup, digest=digest(value))


def lookup_of(value: str, kind: str) -> str | None:
    """The public lookup id of a presented secret, or None when it is not of ``kind``'s shape."""
    parts = value.split("_", 2)
    if len(parts) != 3 or parts[0] != kind or len(parts[1]) != LOOKUP_LENGTH or not parts[2]:
        return None
    if any(ch not in _LOOKUP_ALPHABET for ch in parts[1]):
        return None
    return parts[1]


def matches(value: str, stored_digest: str) -> bool:
    """Constant-time comparison of a presented secret with a stored digest."""
    return hmac.compare_digest(digest(value), stored_digest)
