"""RS256 JWT access tokens shaped like Keycloak's (DOT's ACCESS_TOKEN_GENERATOR hook)."""

from __future__ import annotations

import functools
import time
import uuid

import jwt
from django.conf import settings
from jwcrypto import jwk
from oauth2_provider.settings import oauth2_settings

from tests.oidc_provider.validator import realm


def key_id(pem: str) -> str:
    """The kid DOT's JWKS view publishes for a key: its RFC 7638 thumbprint."""
    return jwk.JWK.from_pem(pem.encode()).thumbprint()


@functools.cache
def signing_key():
    """(key object, kid), loaded once: parsing and checking an RSA key costs tens of milliseconds."""
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    pem = settings.SIGNING_KEY_PEM
    return load_pem_private_key(pem.encode(), password=None), key_id(pem)


def access_token(request, refresh_token=False) -> str:
    """oauthlib calls this with its request: the user, the client and the granted scopes are on it."""
    user = realm().user_by_login(request.user.get_username())
    client = realm().clients[request.client.client_id]
    now = int(time.time())
    claims = {
        "exp": now + oauth2_settings.ACCESS_TOKEN_EXPIRE_SECONDS,
        "iat": now,
        "jti": str(uuid.uuid4()),
        "iss": settings.ISSUER,
        "typ": "Bearer",
        "azp": client.client_id,
        "sid": str(uuid.uuid4()),
        "scope": " ".join(request.scopes or []),
        **realm().claims(user, client, token="access"),
    }
    if getattr(request, "nonce", None):
        claims["nonce"] = request.nonce
    key, kid = signing_key()
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid, "typ": "JWT"})
