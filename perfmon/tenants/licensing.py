"""Signed license keys.

A license key is ``PMLIC1.<payload>.<signature>``, both parts base64url
without padding. The payload is compact JSON naming the tenant (its slug),
the tier, the monitor limit and the validity window; the signature is
Ed25519 over the payload bytes exactly as transmitted. The control plane
holds only the public key (``PERFMON_LICENSE_PUBLIC_KEY``); the operator
who sells licenses holds the private key and runs ``issue_license``.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

TOKEN_PREFIX = "PMLIC1"  # noqa: S105 - a format marker, not a secret


class LicenseInvalid(Exception):
    """The key cannot be accepted; ``reason`` says why in words for the user."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class LicenseClaims:
    license_id: str
    tenant: str
    tier: str
    monitor_limit: int
    issued_at: datetime
    valid_until: datetime


def _b64e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def generate_keypair() -> tuple[str, str]:
    """A new (private PEM, public PEM) pair for an operator."""
    private = Ed25519PrivateKey.generate()
    private_pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    return private_pem, public_pem


def public_key_base64(public_pem: str) -> str:
    """The one-line form of a public key (base64 of its raw 32 bytes), for an environment variable."""
    raw = load_public_key(public_pem).public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def load_private_key(pem: str) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError("the private key is not an Ed25519 key")
    return key


def load_public_key(text: str) -> Ed25519PublicKey:
    """A public key from PEM or from base64 of its raw 32 bytes."""
    text = text.strip()
    if text.startswith("-----BEGIN"):
        key = serialization.load_pem_public_key(text.encode())
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError("the public key is not an Ed25519 key")
        return key
    try:
        raw = base64.b64decode(text, validate=True)
    except binascii.Error as exc:
        raise ValueError("the public key is neither PEM nor base64") from exc
    return Ed25519PublicKey.from_public_bytes(raw)


def sign(
    private_key: Ed25519PrivateKey,
    *,
    tenant: str,
    tier: str,
    monitor_limit: int,
    valid_until: datetime,
    issued_at: datetime | None = None,
) -> str:
    """A license key for ``tenant`` (a slug)."""
    payload = {
        "v": 1,
        "lid": str(uuid.uuid4()),
        "tenant": tenant,
        "tier": tier,
        "monitor_limit": int(monitor_limit),
        "iat": _iso(issued_at or datetime.now(UTC)),
        "exp": _iso(valid_until),
    }
    body = _b64e(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode())
    signature = _b64e(private_key.sign(body.encode()))
    return f"{TOKEN_PREFIX}.{body}.{signature}"


def verify(token: str, public_key: Ed25519PublicKey, *, tenant: str, now: datetime) -> LicenseClaims:
    """The claims of a key valid for ``tenant`` at ``now``.

    Raises LicenseInvalid when the key is malformed, its signature does not
    verify (tampered, or signed by another key), it names another tenant, or
    it has expired.
    """
    parts = token.strip().split(".")
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX:
        raise LicenseInvalid("not a perfmon license key (expected PMLIC1.<payload>.<signature>)")
    _, body, signature = parts
    try:
        public_key.verify(_b64d(signature), body.encode())
    except (InvalidSignature, binascii.Error, ValueError):
        raise LicenseInvalid("the license signature does not verify (altered, or issued by another vendor key)") from None
    try:
        payload = json.loads(_b64d(body))
        claims = LicenseClaims(
            license_id=str(payload["lid"]),
            tenant=str(payload["tenant"]),
            tier=str(payload["tier"]),
            monitor_limit=int(payload["monitor_limit"]),
            issued_at=datetime.fromisoformat(payload["iat"].replace("Z", "+00:00")),
            valid_until=datetime.fromisoformat(payload["exp"].replace("Z", "+00:00")),
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        raise LicenseInvalid("the license payload is malformed") from None
    if claims.tenant != tenant:
        raise LicenseInvalid(f"this license was issued for tenant '{claims.tenant}', not '{tenant}'")
    if claims.valid_until <= now:
        raise LicenseInvalid(f"this license expired on {_iso(claims.valid_until)}")
    return claims
