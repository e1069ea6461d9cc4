"""Every write to tenants, their memberships, API keys and licenses."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.text import slugify

from perfmon.core import credentials
from perfmon.core.errors import Conflict, NotFound, ValidationFailed
from perfmon.tenants import licensing
from perfmon.tenants.models import ApiKey, License, Membership, Role, Tenant

API_KEY_KIND = "pmk"
COMMUNITY_TIER = "community"


def create_tenant(*, name: str, slug: str | None = None) -> Tenant:
    """A new tenant. Raises ValidationFailed for an empty name or slug, Conflict when the slug is taken."""
    name = (name or "").strip()
    if not name:
        raise ValidationFailed("a tenant needs a name", details={"name": ["This field may not be blank."]})
    slug = slugify(slug if slug is not None else name)
    if not slug:
        raise ValidationFailed(
            "the slug must contain letters or digits", details={"slug": ["Enter a valid slug."]}
        )
    with transaction.atomic():
        if Tenant.objects.filter(slug=slug).exists():
            raise Conflict(f"a tenant with slug '{slug}' already exists")
        return Tenant.objects.create(name=name, slug=slug)


TENANT_FIELDS = ("name", "is_active")


def update_tenant(*, tenant: Tenant, **changes) -> Tenant:
    """Rename ``tenant`` or (de)activate it: ``name``, ``is_active``.

    The slug never changes: tokens' tenant claim and signed licenses name the
    tenant by it. A deactivated tenant's keys and users are refused from then
    on. Raises ValidationFailed for other fields or invalid values.
    """
    unknown = sorted(set(changes) - set(TENANT_FIELDS))
    if unknown:
        raise ValidationFailed.of({name: ["Unknown field."] for name in unknown})
    if "name" in changes:
        name = changes["name"]
        name = name.strip() if isinstance(name, str) else ""
        if not name:
            raise ValidationFailed.of({"name": ["A tenant needs a name."]})
        if len(name) > Tenant._meta.get_field("name").max_length:
            raise ValidationFailed.of({"name": [f"At most {Tenant._meta.get_field('name').max_length} characters."]})
        changes["name"] = name
    if "is_active" in changes and not isinstance(changes["is_active"], bool):
        raise ValidationFailed.of({"is_active": ["Must be true or false."]})
    tenant.save_changes(changes)
    return tenant


def _check_role(role) -> str:
    if role not in Role.values:
        raise ValidationFailed.of({"role": [f"Must be one of {', '.join(Role.values)}."]})
    return role


def _check_user_free(user, *, keep: Membership | None = None) -> None:
    # A dashboard user acts in one tenant (Membership is one-to-one with the user).
    taken = Membership.all_tenants.select_related("tenant").filter(user=user).exclude(
        pk=keep.pk if keep is not None else None).first()
    if taken is not None:
        raise ValidationFailed.of({"user": [f"{user.get_username()} is already a member of {taken.tenant.slug}."]})


def add_membership(*, tenant: Tenant, user, role: str = Role.MEMBER) -> Membership:
    """Make ``user`` a member of ``tenant`` with ``role`` (viewer, member or admin).

    Raises ValidationFailed for another role, or when the user already
    belongs to a tenant (they have one).
    """
    role = _check_role(role)
    with transaction.atomic():
        _check_user_free(user)
        return Membership.objects.create(tenant=tenant, user=user, role=role)


def update_membership(*, tenant: Tenant, membership: Membership, **changes) -> Membership:
    """Change a membership of ``tenant``: its ``role``, or the ``user`` it is for, checked as add_membership
    checks them. Raises ValidationFailed."""
    if membership.tenant_id != tenant.pk:
        raise ValueError("the membership belongs to another tenant")
    unknown = sorted(set(changes) - {"user", "role"})
    if unknown:
        raise ValidationFailed.of({name: ["Unknown field."] for name in unknown})
    if "role" in changes:
        _check_role(changes["role"])
    with transaction.atomic():
        if "user" in changes and changes["user"].pk != membership.user_id:
            _check_user_free(changes["user"], keep=membership)
        membership.save_changes(changes)
    return membership


def remove_membership(*, tenant: Tenant, membership: Membership) -> None:
    """End ``membership`` of ``tenant``: its user no longer sees the tenant's dashboard."""
    if membership.tenant_id != tenant.pk:
        raise ValueError("the membership belongs to another tenant")
    membership.delete()


def get_or_create_tenant(*, name: str, slug: str) -> Tenant:
    """The tenant with ``slug``, created with ``name`` if missing (bootstrap is re-runnable)."""
    tenant, _ = Tenant.objects.get_or_create(slug=slug, defaults={"name": name})
    return tenant


def tenant_by_slug(slug: str) -> Tenant:
    """Raises NotFound when no tenant has ``slug``."""
    try:
        return Tenant.objects.get(slug=slug)
    except Tenant.DoesNotExist:
        raise NotFound(f"tenant '{slug}' does not exist") from None


@dataclass(frozen=True)
class NewApiKey:
    api_key: ApiKey
    value: str  # shown once, never stored


def create_api_key(*, tenant: Tenant, name: str = "") -> NewApiKey:
    """A new API key for ``tenant``; the returned ``value`` is the only copy of the secret."""
    secret = credentials.issue(API_KEY_KIND)
    api_key = ApiKey.objects.create(tenant=tenant, name=name, prefix=secret.lookup, key_hash=secret.digest)
    return NewApiKey(api_key=api_key, value=secret.value)


def revoke_api_key(*, tenant: Tenant, api_key_id) -> ApiKey:
    """Revoke a key of ``tenant``; revoking twice keeps the first time. Raises NotFound."""
    try:
        api_key = ApiKey.objects.for_tenant(tenant).get(pk=api_key_id)
    except (ApiKey.DoesNotExist, ValueError):
        raise NotFound("API key not found") from None
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at", "updated_at"])
    return api_key


def authenticate_api_key(value: str) -> ApiKey | None:
    """The active key that ``value`` is, or None. Touches ``last_used_at`` at most once a minute."""
    lookup = credentials.lookup_of(value, API_KEY_KIND)
    if lookup is None:
        return None
    # Authentication is the one place that must look across tenants: the
    # key is what tells us the tenant.
    api_key = ApiKey.all_tenants.select_related("tenant").filter(prefix=lookup).first()
    if api_key is None or not credentials.matches(value, api_key.key_hash):
        return None
    if api_key.revoked_at is not None or not api_key.tenant.is_active:
        return None
    now = timezone.now()
    interval = timedelta(seconds=settings.PERFMON_API_KEY_TOUCH_INTERVAL)
    if api_key.last_used_at is None or now - api_key.last_used_at >= interval:
        # Conditional update: of many concurrent requests, one writes it.
        ApiKey.all_tenants.filter(
            Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - interval), pk=api_key.pk
        ).update(last_used_at=now)
        api_key.last_used_at = now
    return api_key


# --- licenses -------------------------------------------------------------


@dataclass(frozen=True)
class EffectiveLicense:
    """What a tenant may do now: its verified license, or the community tier."""

    tier: str
    monitor_limit: int
    valid_until: datetime | None
    licensed: bool
    expired: bool = False


def _public_key():
    text = settings.PERFMON_LICENSE_PUBLIC_KEY
    if not text:
        raise licensing.LicenseInvalid(
            "this server has no license public key configured (PERFMON_LICENSE_PUBLIC_KEY)"
        )
    try:
        return licensing.load_public_key(text)
    except ValueError as exc:
        raise licensing.LicenseInvalid(f"the configured license public key is unusable: {exc}") from None


def install_license(*, tenant: Tenant, token: str) -> License:
    """Verify ``token`` for ``tenant`` and make it the tenant's license.

    Raises ValidationFailed with the reason when the key is malformed,
    tampered, issued for another tenant or expired; nothing changes then.
    """
    if not isinstance(token, str) or not token.strip():
        raise ValidationFailed("licenseKey is required", details={"licenseKey": ["This field is required."]})
    try:
        claims = licensing.verify(token, _public_key(), tenant=tenant.slug, now=timezone.now())
    except licensing.LicenseInvalid as exc:
        raise ValidationFailed(exc.reason, details={"licenseKey": [exc.reason]}) from None
    fields = {
        "license_id": claims.license_id,
        "token": token.strip(),
        "tier": claims.tier,
        "monitor_limit": claims.monitor_limit,
        "issued_at": claims.issued_at,
        "valid_until": claims.valid_until,
    }
    license_, _ = License.all_tenants.update_or_create(tenant=tenant, defaults=fields)
    return license_


def effective_license(tenant: Tenant) -> EffectiveLicense:
    """The tenant's installed license (possibly expired), else the community tier."""
    license_ = License.objects.for_tenant(tenant).first()
    if license_ is not None:
        # An expired license is not silently downgraded to community: the
        # tenant keeps what it has but may not add monitors until renewed.
        return EffectiveLicense(
            tier=license_.tier,
            monitor_limit=license_.monitor_limit,
            valid_until=license_.valid_until,
            licensed=True,
            expired=license_.valid_until <= timezone.now(),
        )
    return EffectiveLicense(
        tier=COMMUNITY_TIER,
        monitor_limit=settings.PERFMON_COMMUNITY_MONITOR_LIMIT,
        valid_until=None,
        licensed=False,
    )
