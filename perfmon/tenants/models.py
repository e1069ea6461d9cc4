"""Tenants, their people, API keys and licenses."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from perfmon.core.models import TimeStamped
from perfmon.core.scoping import TenantManager


class Tenant(TimeStamped):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=63, unique=True)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.slug


class Role(models.TextChoices):
    VIEWER = "viewer", "Viewer"
    MEMBER = "member", "Member"
    ADMIN = "admin", "Admin"


class Membership(TimeStamped):
    """A dashboard user's tenant and role (OIDC users carry both in their token)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="memberships")
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="membership")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)

    objects = TenantManager()
    all_tenants = models.Manager()

    class Meta:
        default_manager_name = "all_tenants"

    def __str__(self) -> str:
        return f"{self.user} @ {self.tenant} ({self.role})"


class ApiKey(TimeStamped):
    """A tenant's key for the /api surface. Only the SHA-256 of the key is kept."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100, blank=True)
    # The public part of the key (`pmk_<prefix>_…`): shown in lists, used for lookup.
    prefix = models.CharField(max_length=16, unique=True)
    key_hash = models.CharField(max_length=64)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = TenantManager()
    all_tenants = models.Manager()

    class Meta:
        default_manager_name = "all_tenants"
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"pmk_{self.prefix}_… ({self.name or 'unnamed'})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class License(TimeStamped):
    """The verified license installed for a tenant (one at a time).

    The token itself is kept so it can be re-verified (for example after the
    operator rotates the public key); tier, limit and expiry are copied out
    of its verified payload for queries.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.OneToOneField(Tenant, on_delete=models.CASCADE, related_name="license")
    license_id = models.CharField(max_length=64)
    token = models.TextField()
    tier = models.CharField(max_length=32)
    monitor_limit = models.PositiveIntegerField()
    issued_at = models.DateTimeField()
    valid_until = models.DateTimeField()

    objects = TenantManager()
    all_tenants = models.Manager()

    class Meta:
        default_manager_name = "all_tenants"

    def __str__(self) -> str:
        return f"{self.tier} for {self.tenant_id} until {self.valid_until:%Y-%m-%d}"
