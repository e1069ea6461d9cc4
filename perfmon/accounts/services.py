"""Users of the OpenID provider: matched on ``sub``, created and updated on sight, with tenant and roles.

A verified token says who the user is (``sub``), their profile (email,
name, preferred_username), their realm roles (``realm_access.roles``) and
their tenant (the claim named by OIDC_TENANT_CLAIM, a tenant slug). The
user's Membership mirrors the token (tenant, highest perfmon role), so the
dashboard's session knows both; it is written only when something changed.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction

from perfmon.accounts.models import OidcIdentity
from perfmon.accounts.tokens import VerifiedToken
from perfmon.tenants.models import Membership, Role, Tenant

log = logging.getLogger(__name__)

# Realm roles perfmon understands, and what each one grants (a role includes the ones below it).
ROLE_GRANTS = {
    Role.ADMIN: frozenset({Role.VIEWER, Role.MEMBER, Role.ADMIN}),
    Role.MEMBER: frozenset({Role.VIEWER, Role.MEMBER}),
    Role.VIEWER: frozenset({Role.VIEWER}),
}
ROLE_ORDER = (Role.ADMIN, Role.MEMBER, Role.VIEWER)


def effective_roles(realm_roles) -> frozenset[str]:
    """The perfmon roles a token's realm roles grant (others, such as offline_access, grant nothing)."""
    granted: set[str] = set()
    for role in realm_roles:
        granted |= ROLE_GRANTS.get(role, frozenset())
    return frozenset(granted)


def highest_role(roles) -> str | None:
    return next((role for role in ROLE_ORDER if role in roles), None)


@dataclass(frozen=True)
class OidcUser:
    """The outcome of seeing a token: the user, and their tenant or why there is none."""

    user: object
    tenant: Tenant | None
    tenant_error: str
    roles: frozenset[str]
    actor: str


def _username_for(token: VerifiedToken) -> str:
    base = (token.preferred_username or (token.email or "").split("@")[0] or "user").strip()[:100] or "user"
    User = get_user_model()
    if not User.objects.filter(username=base).exists():
        return base
    # Taken (perhaps by a local operator): never share it, add a stable suffix from sub.
    return f"{base}-{hashlib.sha256(token.sub.encode()).hexdigest()[:10]}"


def _profile(token: VerifiedToken) -> dict:
    name = (token.name or "").strip()
    given = (token.text("given_name") or "").strip()
    family = (token.text("family_name") or "").strip()
    if not given and not family and name:
        given, _, family = name.partition(" ")
    return {
        "email": (token.email or "")[:254],
        "first_name": given[:150],
        "last_name": family[:150],
    }


def _identity_fields(token: VerifiedToken) -> dict:
    return {
        "email": (token.email or "")[:254],
        "name": (token.name or "")[:255],
        "preferred_username": (token.preferred_username or "")[:255],
    }


def _create(token: VerifiedToken) -> OidcIdentity:
    User = get_user_model()
    for _ in range(3):
        try:
            with transaction.atomic():
                user = User(username=_username_for(token), **_profile(token))
                user.set_unusable_password()  # they sign in at the provider, never with a local password
                user.save()
                identity = OidcIdentity.objects.create(
                    user=user, issuer=token.issuer, sub=token.sub, **_identity_fields(token)
                )
                log.info("created user %s for OIDC subject %s", user.username, token.sub)
                return identity
        except IntegrityError:
            # The same subject's first two requests raced (or a username was taken meanwhile).
            existing = _lookup(token)
            if existing is not None:
                return existing
    raise RuntimeError(f"could not create a user for OIDC subject {token.sub}")


def _lookup(token: VerifiedToken) -> OidcIdentity | None:
    return (
        OidcIdentity.objects.select_related("user", "user__membership", "user__membership__tenant")
        .filter(issuer=token.issuer, sub=token.sub)
        .first()
    )


def _update(identity: OidcIdentity, token: VerifiedToken) -> None:
    identity.save_changes(_identity_fields(token))
    user = identity.user
    profile = {k: v for k, v in _profile(token).items() if getattr(user, k) != v}
    if profile:
        for k, v in profile.items():
            setattr(user, k, v)
        user.save(update_fields=list(profile))


def _membership(user) -> Membership | None:
    try:
        return user.membership
    except Membership.DoesNotExist:
        return None


def _resolve_tenant(token: VerifiedToken, claim: str, membership: Membership | None) -> tuple[Tenant | None, str]:
    slug = token.claims.get(claim)
    if isinstance(slug, list) and len(slug) == 1:  # Keycloak's multivalued attribute mapper
        slug = slug[0]
    if not isinstance(slug, str) or not slug.strip():
        return None, f"the token has no '{claim}' claim naming a tenant"
    slug = slug.strip()
    if membership is not None and membership.tenant.slug == slug:
        tenant = membership.tenant  # steady state: no extra query
    else:
        tenant = Tenant.objects.filter(slug=slug).first()
    if tenant is None:
        return None, f"tenant '{slug}' does not exist"
    if not tenant.is_active:
        return None, f"tenant '{slug}' is disabled"
    return tenant, ""


def _sync_membership(user, membership: Membership | None, tenant: Tenant | None, role: str | None) -> None:
    if tenant is None or role is None:
        if membership is not None:
            Membership.all_tenants.filter(pk=membership.pk).delete()
            user._state.fields_cache.pop("membership", None)
        return
    if membership is None:
        Membership.all_tenants.create(user=user, tenant=tenant, role=role)
    elif membership.tenant_id != tenant.pk or membership.role != role:
        membership.tenant, membership.role = tenant, role
        membership.save(update_fields=["tenant", "role", "updated_at"])


def sync_oidc_user(token: VerifiedToken, *, tenant_claim: str = "tenant") -> OidcUser:
    """The user of a verified token, created or updated from its claims, with tenant and roles.

    Users are matched on (issuer, ``sub``) only. The tenant is None, with
    the reason in ``tenant_error``, when the claim is missing or names no
    active tenant; ``roles`` is empty when the token carries none of
    viewer/member/admin. Neither is an error here: the API decides.
    """
    identity = _lookup(token)
    if identity is None:
        identity = _create(token)
    else:
        _update(identity, token)
    user = identity.user
    membership = _membership(user)
    tenant, tenant_error = _resolve_tenant(token, tenant_claim, membership)
    roles = effective_roles(token.realm_roles)
    _sync_membership(user, membership, tenant, highest_role(roles))
    handle = token.preferred_username or token.email or token.sub
    return OidcUser(user=user, tenant=tenant, tenant_error=tenant_error, roles=roles, actor=f"oidc:{handle}")
