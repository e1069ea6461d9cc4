"""``X-API-Key`` authentication for the /api surface."""

from __future__ import annotations

from rest_framework import authentication, exceptions

from perfmon.api.common.principal import Principal
from perfmon.tenants.models import Membership, Role, Tenant
from perfmon.tenants.services import authenticate_api_key

HEADER = "X-API-Key"


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """A tenant API key in ``X-API-Key``; a key acts with the admin role of its tenant."""

    def authenticate(self, request):
        value = request.headers.get(HEADER)
        if value is None:
            return None
        api_key = authenticate_api_key(value.strip())
        if api_key is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked API key")
        principal = Principal(
            tenant=api_key.tenant,
            actor=f"api-key:{api_key.prefix}" + (f" ({api_key.name})" if api_key.name else ""),
            roles=frozenset({Role.VIEWER, Role.MEMBER, Role.ADMIN}),
            api_key=api_key,
        )
        return principal, api_key

    def authenticate_header(self, request) -> str:
        # Makes DRF answer 401 (not 403) when the key is missing.
        return HEADER


# A member's role implies the lesser ones.
_ROLE_SETS = {
    Role.ADMIN: frozenset({Role.VIEWER, Role.MEMBER, Role.ADMIN}),
    Role.MEMBER: frozenset({Role.VIEWER, Role.MEMBER}),
    Role.VIEWER: frozenset({Role.VIEWER}),
}
TENANT_PARAM = "tenant"


class OperatorSessionAuthentication(authentication.SessionAuthentication):
    """A signed-in staff user's session, for exploring /api in the browsable API.

    Only staff sessions count here (tenant users call /api with a key); DRF's
    CSRF check applies to every unsafe method. A staff user with a
    Membership acts in that tenant with that role. A superuser acts as
    admin in the tenant named by ``?tenant=<slug>`` (or their membership's
    tenant when they name none); nothing is remembered between requests, so
    a link cannot silently switch an operator's tenant.
    """

    def authenticate(self, request):
        user = getattr(request._request, "user", None)
        if user is None or not user.is_active or not user.is_staff:
            return None
        self.enforce_csrf(request)
        membership = Membership.all_tenants.select_related("tenant").filter(user=user).first()
        slug = request.query_params.get(TENANT_PARAM)
        if user.is_superuser and slug:
            tenant = Tenant.objects.filter(slug=slug, is_active=True).first()
            if tenant is None:
                raise exceptions.NotFound(f"tenant '{slug}' does not exist")
            roles = _ROLE_SETS[Role.ADMIN]
        elif membership is not None and membership.tenant.is_active:
            if slug and slug != membership.tenant.slug:
                raise exceptions.PermissionDenied(f"you act in tenant '{membership.tenant.slug}' only")
            tenant, roles = membership.tenant, _ROLE_SETS.get(membership.role, frozenset())
        elif user.is_superuser:
            raise exceptions.PermissionDenied(
                f"operators choose a tenant: add ?{TENANT_PARAM}=<slug> to the URL (or use an X-API-Key)"
            )
        else:
            raise exceptions.PermissionDenied("this staff account has no tenant; use an X-API-Key")
        principal = Principal(tenant=tenant, actor=f"user:{user.get_username()}", roles=roles, user=user)
        return principal, None
