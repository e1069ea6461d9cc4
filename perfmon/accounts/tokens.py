"""Local verification of the provider's JWTs: access tokens (Bearer) and ID tokens (browser login).

Nothing is asked of the provider per request: the signature is checked
against its cached JWKS (perfmon/accounts/provider.py), then the claims:

* ``alg`` must be OIDC_RP_SIGN_ALGO (RS256); ``none`` and HMAC never pass;
* ``iss`` must equal OIDC_ISSUER;
* ``exp`` must lie in the future, ``iat``/``nbf`` not in it, both with
  OIDC_LEEWAY seconds of clock skew allowed;
* access tokens: with OIDC_AUDIENCE set, ``aud`` must contain it; without,
  ``aud`` must contain OIDC_RP_CLIENT_ID or ``azp`` must equal it (Keycloak
  puts the requesting client in ``azp`` and ``account`` in ``aud``);
  ``typ`` must be ``Bearer`` (Keycloak's marker of an access token, so ID
  and refresh tokens are refused), or the header's ``typ`` ``at+jwt``
  (RFC 9068);
* ID tokens: ``aud`` must contain OIDC_RP_CLIENT_ID, and the nonce match.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import jwt

from perfmon.accounts.provider import (
    OidcConfig,
    UnknownSigningKey,
    provider_for,
    require_config,
)


class InvalidToken(Exception):
    """The token is malformed, forged, expired, or not meant for perfmon. The message says which."""


@dataclass(frozen=True)
class VerifiedToken:
    """A verified token and the claims perfmon reads from it."""

    raw: str = field(repr=False)
    claims: dict
    issuer: str

    @property
    def sub(self) -> str:
        return str(self.claims["sub"])

    def text(self, claim: str) -> str | None:
        """The claim when it is a string, else None."""
        value = self.claims.get(claim)
        return value if isinstance(value, str) else None

    @property
    def email(self) -> str | None:
        return self.text("email")

    @property
    def name(self) -> str | None:
        return self.text("name")

    @property
    def preferred_username(self) -> str | None:
        return self.text("preferred_username")

    @property
    def realm_roles(self) -> list[str]:
        """``realm_access.roles`` as the provider sent them (strings only)."""
        access = self.claims.get("realm_access")
        roles = access.get("roles") if isinstance(access, dict) else None
        return [role for role in roles if isinstance(role, str)] if isinstance(roles, list) else []


def _audiences(claims: dict) -> list[str]:
    aud = claims.get("aud")
    if isinstance(aud, str):
        return [aud]
    return [item for item in aud if isinstance(item, str)] if isinstance(aud, list) else []


def _decode(raw: str, config: OidcConfig) -> tuple[dict, dict]:
    if not raw or raw.count(".") != 2:
        raise InvalidToken("the token is not a JWT")
    try:
        header = jwt.get_unverified_header(raw)
        unverified = jwt.decode(raw, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise InvalidToken("the token is not a JWT") from None
    alg = header.get("alg")
    if alg not in config.algorithms:
        raise InvalidToken(f"tokens signed with {alg!r} are not accepted (only {', '.join(config.algorithms)})")
    # Refuse a foreign issuer before its key id can make us refetch the JWKS.
    if str(unverified.get("iss", "")).rstrip("/") != config.issuer:
        raise InvalidToken("the token was issued by another issuer")
    try:
        key = provider_for(config).signing_key(header.get("kid"), alg)
    except UnknownSigningKey as exc:
        raise InvalidToken(str(exc)) from None
    try:
        claims = jwt.decode(
            raw,
            key=key.key,
            algorithms=[alg],
            issuer=unverified.get("iss"),  # equal to OIDC_ISSUER up to a trailing slash (checked above)
            leeway=config.leeway,
            options={"require": ["exp", "iat", "iss", "sub"], "verify_aud": False},
        )
    except jwt.ExpiredSignatureError:
        raise InvalidToken("the token has expired") from None
    except jwt.InvalidSignatureError:
        raise InvalidToken("the token's signature does not verify") from None
    except jwt.ImmatureSignatureError:
        raise InvalidToken("the token is not valid yet") from None
    except jwt.MissingRequiredClaimError as exc:
        raise InvalidToken(f"the token has no '{exc.claim}' claim") from None
    except jwt.PyJWTError as exc:
        raise InvalidToken(f"the token is invalid: {exc}") from None
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise InvalidToken("the token has no subject")
    return header, claims


def verify_access_token(raw: str, config: OidcConfig | None = None) -> VerifiedToken:
    """The verified access token ``raw``. Raises InvalidToken, NotConfigured or ProviderUnavailable."""
    config = config or require_config()
    header, claims = _decode(raw, config)
    audiences = _audiences(claims)
    if config.audience:
        if config.audience not in audiences:
            raise InvalidToken(f"the token is not meant for this API (aud lacks {config.audience!r})")
    elif config.client_id not in audiences and claims.get("azp") != config.client_id:
        raise InvalidToken(f"the token is not meant for this API (neither aud nor azp is {config.client_id!r})")
    if claims.get("typ") != "Bearer" and str(header.get("typ", "")).lower() not in ("at+jwt", "application/at+jwt"):
        raise InvalidToken("the token is not an access token (typ is not Bearer)")
    return VerifiedToken(raw=raw, claims=claims, issuer=config.issuer)


def verify_id_token(raw: str, *, nonce: str | None = None, config: OidcConfig | None = None) -> VerifiedToken:
    """The verified ID token of a browser login. Raises InvalidToken, NotConfigured or ProviderUnavailable."""
    config = config or require_config()
    _, claims = _decode(raw, config)
    if config.client_id not in _audiences(claims):
        raise InvalidToken("the ID token is not meant for this client")
    if claims.get("azp") not in (None, config.client_id):
        raise InvalidToken("the ID token was issued to another client")
    if claims.get("typ") not in (None, "ID"):
        raise InvalidToken("the token is not an ID token")
    if nonce is not None and claims.get("nonce") != nonce:
        raise InvalidToken("the ID token's nonce does not match the login")
    return VerifiedToken(raw=raw, claims=claims, issuer=config.issuer)
