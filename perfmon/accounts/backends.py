"""mozilla-django-oidc's backend, verifying tokens locally.

The stock backend asks the provider's userinfo endpoint about every Bearer
token, never checks its signature, audience or issuer, and matches users
by email. This subclass keeps its authorization-code flow for browser
login (state, nonce, PKCE, the code exchange) and replaces the rest:
tokens are verified against the provider's cached JWKS
(perfmon/accounts/tokens.py), users are matched on ``sub``
(perfmon/accounts/services.py), and realm roles and the tenant come from
the access token, where Keycloak puts them.

Endpoints are read from the provider's discovery document when they are
first needed, not from settings at start-up, so an unset OIDC_ISSUER
breaks neither the admin's password login nor start-up.
"""

from __future__ import annotations

import logging

import requests
from django.contrib.auth import get_user_model
from django.core.exceptions import SuspiciousOperation
from mozilla_django_oidc.auth import OIDCAuthenticationBackend

from perfmon.accounts.provider import (
    NotConfigured,
    ProviderUnavailable,
    current_config,
    provider_for,
    require_config,
)
from perfmon.accounts.services import OidcUser, sync_oidc_user
from perfmon.accounts.tokens import InvalidToken, VerifiedToken, verify_access_token, verify_id_token

log = logging.getLogger(__name__)


class OidcBackend(OIDCAuthenticationBackend):
    """Browser login (authorization code flow) and Bearer verification against one OpenID provider."""

    def __init__(self, *args, **kwargs) -> None:
        # The parent reads every endpoint from settings here; ours are discovered lazily.
        self.UserModel = get_user_model()

    # --- what the parent reads, resolved at use time ------------------------
    @property
    def OIDC_RP_CLIENT_ID(self) -> str:  # noqa: N802 - the parent's attribute names
        return require_config().client_id

    @property
    def OIDC_RP_CLIENT_SECRET(self) -> str:  # noqa: N802
        return require_config().client_secret

    @property
    def OIDC_RP_SIGN_ALGO(self) -> str:  # noqa: N802
        return require_config().algorithms[0]

    OIDC_RP_IDP_SIGN_KEY = None

    @property
    def OIDC_OP_TOKEN_ENDPOINT(self) -> str:  # noqa: N802
        config = require_config()
        return provider_for(config).endpoints().token

    @property
    def OIDC_OP_USER_ENDPOINT(self) -> str:  # noqa: N802
        config = require_config()
        return provider_for(config).endpoints().userinfo

    @property
    def OIDC_OP_JWKS_ENDPOINT(self) -> str:  # noqa: N802
        config = require_config()
        return provider_for(config).endpoints().jwks

    # --- Bearer tokens --------------------------------------------------------
    def authenticate_bearer(self, raw: str) -> tuple[VerifiedToken, OidcUser]:
        """Verify an access token and see its user. Raises InvalidToken, NotConfigured, ProviderUnavailable."""
        config = require_config()
        token = verify_access_token(raw, config)
        return token, sync_oidc_user(token, tenant_claim=config.tenant_claim)

    # --- browser login (authorization code flow) ------------------------------
    def authenticate(self, request, **kwargs):
        if current_config() is None:
            return None
        try:
            return super().authenticate(request, **kwargs)
        except (ProviderUnavailable, requests.RequestException) as exc:
            # The code exchange failed: a failed login, never a 500.
            log.warning("OIDC login failed: the provider is unavailable (%s)", exc)
            return None
        except SuspiciousOperation as exc:
            log.warning("OIDC login failed: %s", exc)
            return None

    def verify_token(self, token, **kwargs):
        """The ID token of the code flow, verified like every token (signature, iss, aud, exp, nonce)."""
        try:
            return verify_id_token(token, nonce=kwargs.get("nonce")).claims
        except (InvalidToken, NotConfigured) as exc:
            raise SuspiciousOperation(f"ID token refused: {exc}") from None

    def get_or_create_user(self, access_token, id_token, payload):
        """The user of a browser login: roles and tenant come from the access token, as for Bearer calls.

        A login without a known tenant or without a perfmon role is refused
        (the user could not see anything).
        """
        try:
            token, seen = self.authenticate_bearer(access_token)
        except (InvalidToken, NotConfigured) as exc:
            raise SuspiciousOperation(f"access token refused: {exc}") from None
        if payload and payload.get("sub") != token.sub:
            raise SuspiciousOperation("the ID token and the access token name different users")
        if seen.tenant is None:
            raise SuspiciousOperation(f"login refused: {seen.tenant_error}")
        if not seen.roles:
            raise SuspiciousOperation("login refused: the user has none of the realm roles viewer, member, admin")
        return seen.user

    def get_userinfo(self, access_token, id_token, payload):
        # Everything perfmon needs is in the verified tokens; no extra round trip.
        return payload or {}

    def get_user(self, user_id):
        try:
            return self.UserModel.objects.get(pk=user_id)
        except self.UserModel.DoesNotExist:
            return None
