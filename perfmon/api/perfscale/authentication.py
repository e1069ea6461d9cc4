"""``Authorization: Bearer <access token>`` for /api/v1: OIDC tokens verified locally.

mozilla-django-oidc's DRF class parses the header; our backend
(perfmon/accounts/backends.py) verifies the token against the provider's
cached JWKS and sees its user. Errors:

* no credentials, a malformed header, an expired, forged, ``alg=none``,
  foreign-issuer or foreign-audience token: 401 with ``WWW-Authenticate:
  Bearer`` (``error="invalid_token"`` when a token was presented, RFC 6750);
* OIDC_ISSUER unset: 401 saying OIDC is not configured, for every request;
* the provider unreachable with no keys cached: 503, never 500.
"""

from __future__ import annotations

from dataclasses import dataclass

from mozilla_django_oidc.contrib.drf import OIDCAuthentication
from rest_framework import exceptions, status

from perfmon.accounts.backends import OidcBackend
from perfmon.accounts.provider import NotConfigured, ProviderUnavailable, current_config
from perfmon.accounts.tokens import InvalidToken, VerifiedToken
from perfmon.api.common.principal import Principal

REALM = "perfscale"


class ProviderDown(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "The OpenID provider is unavailable; try again shortly."
    default_code = "service_unavailable"
    wait = 5  # DRF turns it into Retry-After


@dataclass(frozen=True)
class BearerGrant:
    """``request.auth`` on /api/v1: the verified token, and why the caller has no tenant (if so)."""

    token: VerifiedToken
    tenant_error: str = ""


def _quote(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', "'")


class BearerAuthentication(OIDCAuthentication):
    """OIDC Bearer tokens; ``request.user`` is a Principal (tenant, actor, roles, user)."""

    www_authenticate_realm = REALM

    def __init__(self, backend=None) -> None:
        self.backend = backend or OidcBackend()

    def authenticate(self, request):
        if current_config() is None:
            raise exceptions.AuthenticationFailed(
                "OIDC is not configured on this server (OIDC_ISSUER is unset), so Bearer tokens cannot be accepted"
            )
        raw = self.get_access_token(request)  # AuthenticationFailed for a malformed header
        if not raw:
            return None
        try:
            token, seen = self.backend.authenticate_bearer(raw)
        except InvalidToken as exc:
            request._bearer_error = str(exc)
            raise exceptions.AuthenticationFailed(f"Invalid token: {exc}") from None
        except NotConfigured as exc:
            raise exceptions.AuthenticationFailed(str(exc)) from None
        except ProviderUnavailable as exc:
            raise ProviderDown(f"The OpenID provider is unavailable, so the token cannot be verified: {exc}") from None
        principal = Principal(tenant=seen.tenant, actor=seen.actor, roles=seen.roles, user=seen.user)
        return principal, BearerGrant(token=token, tenant_error=seen.tenant_error)

    def authenticate_header(self, request) -> str:
        error = getattr(request, "_bearer_error", None)
        if error:
            return f'Bearer realm="{REALM}", error="invalid_token", error_description="{_quote(error)}"'
        return f'Bearer realm="{REALM}"'
