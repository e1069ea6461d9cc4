"""``X-API-Key`` authentication for the /api surface."""

from __future__ import annotations

from rest_framework import authentication, exceptions

from perfmon.api.common.principal import Principal
from perfmon.tenants.models import Role
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
