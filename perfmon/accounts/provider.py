"""The OpenID provider as perfmon sees it: its configuration, endpoints and signing keys.

Endpoints come from ``{issuer}/.well-known/openid-configuration``; when the
provider publishes no discovery document (404), Keycloak's layout under the
issuer is assumed. Signing keys come from its JWKS and are cached per
process: every token is verified locally, so the provider is contacted once
per ``OIDC_JWKS_CACHE_SECONDS``, plus at most once per
``OIDC_JWKS_REFETCH_COOLDOWN`` seconds when a token names a key id the cache
does not know (the provider rotated its keys). A fetch that fails keeps the
keys already cached (stale keys beat an outage); with nothing cached the
provider is unavailable, which the API answers with 503.

Every request to the provider has a bounded timeout (``OIDC_TIMEOUT``), and
one lock per provider makes concurrent requests wait for a single fetch
instead of stampeding the provider.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

import jwt
import requests
from django.conf import settings

log = logging.getLogger(__name__)


class NotConfigured(Exception):
    """OIDC_ISSUER is not set: Bearer tokens cannot be verified."""


class ProviderUnavailable(Exception):
    """The provider could not be reached or answered nonsense, and nothing usable is cached."""


class UnknownSigningKey(Exception):
    """The token names a key the provider does not publish (even after a refetch)."""


@dataclass(frozen=True)
class OidcConfig:
    issuer: str
    provider_url: str  # where perfmon reaches the realm; the issuer unless OIDC_PROVIDER_URL says otherwise
    client_id: str
    client_secret: str
    audience: str
    tenant_claim: str
    algorithms: tuple[str, ...]
    leeway: int
    timeout: float
    verify_ssl: bool
    jwks_ttl: float
    refetch_cooldown: float


def current_config() -> OidcConfig | None:
    """The OIDC settings, or None when OIDC_ISSUER is unset. Read at call time (tests override them)."""
    issuer = (getattr(settings, "OIDC_ISSUER", "") or "").rstrip("/")
    if not issuer:
        return None
    return OidcConfig(
        issuer=issuer,
        provider_url=(getattr(settings, "OIDC_PROVIDER_URL", "") or issuer).rstrip("/"),
        client_id=getattr(settings, "OIDC_RP_CLIENT_ID", "") or "",
        client_secret=getattr(settings, "OIDC_RP_CLIENT_SECRET", "") or "",
        audience=getattr(settings, "OIDC_AUDIENCE", "") or "",
        tenant_claim=getattr(settings, "OIDC_TENANT_CLAIM", "tenant") or "tenant",
        algorithms=(getattr(settings, "OIDC_RP_SIGN_ALGO", "RS256"),),
        leeway=int(getattr(settings, "OIDC_LEEWAY", 30)),
        timeout=float(getattr(settings, "OIDC_TIMEOUT", 5.0)),
        verify_ssl=bool(getattr(settings, "OIDC_VERIFY_SSL", True)),
        jwks_ttl=float(getattr(settings, "OIDC_JWKS_CACHE_SECONDS", 3600)),
        refetch_cooldown=float(getattr(settings, "OIDC_JWKS_REFETCH_COOLDOWN", 30)),
    )


def require_config() -> OidcConfig:
    config = current_config()
    if config is None:
        raise NotConfigured("OIDC is not configured on this server (OIDC_ISSUER is unset)")
    return config


@dataclass(frozen=True)
class Endpoints:
    authorization: str
    token: str
    userinfo: str
    jwks: str
    end_session: str


def keycloak_endpoints(base: str) -> Endpoints:
    """Keycloak's layout under a realm URL such as http://keycloak:8080/realms/perfscale."""
    oidc = f"{base}/protocol/openid-connect"
    return Endpoints(
        authorization=f"{oidc}/auth", token=f"{oidc}/token", userinfo=f"{oidc}/userinfo",
        jwks=f"{oidc}/certs", end_session=f"{oidc}/logout",
    )


class OidcProvider:
    """Discovery document and JWKS of one issuer, cached in this process."""

    def __init__(self, config: OidcConfig) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._endpoints: Endpoints | None = None
        self._endpoints_at = 0.0
        self._keys: dict[str, jwt.PyJWK] = {}
        self._keys_at = 0.0
        self._last_fetch_at = float("-inf")
        # How often the JWKS was requested from the provider (logged, and read by the tests).
        self.jwks_fetches = 0

    # --- HTTP -------------------------------------------------------------
    def _get(self, url: str) -> requests.Response:
        try:
            return requests.get(url, timeout=self.config.timeout, verify=self.config.verify_ssl)
        except requests.RequestException as exc:
            raise ProviderUnavailable(f"the OpenID provider is unreachable ({exc.__class__.__name__})") from exc

    def _json(self, response: requests.Response, what: str) -> dict:
        if response.status_code >= 500:
            raise ProviderUnavailable(f"the OpenID provider answered {response.status_code} for its {what}")
        if response.status_code != 200:
            raise ProviderUnavailable(f"the OpenID provider has no {what} ({response.status_code})")
        try:
            data = response.json()
        except ValueError:
            raise ProviderUnavailable(f"the OpenID provider's {what} is not JSON") from None
        if not isinstance(data, dict):
            raise ProviderUnavailable(f"the OpenID provider's {what} is not a JSON object")
        return data

    # --- discovery --------------------------------------------------------
    def endpoints(self) -> Endpoints:
        """The provider's endpoints (discovered, else Keycloak's layout). Raises ProviderUnavailable."""
        with self._lock:
            fresh = time.monotonic() - self._endpoints_at < self.config.jwks_ttl
            if self._endpoints is not None and fresh:
                return self._endpoints
            try:
                self._endpoints = self._discover()
                self._endpoints_at = time.monotonic()
            except ProviderUnavailable:
                if self._endpoints is None:
                    raise
                log.warning("OIDC discovery failed; keeping the endpoints discovered before", exc_info=True)
            return self._endpoints

    def _discover(self) -> Endpoints:
        base = self.config.provider_url
        response = self._get(f"{base}/.well-known/openid-configuration")
        if response.status_code == 404:
            log.info("%s publishes no discovery document; assuming Keycloak's layout", base)
            return keycloak_endpoints(base)
        doc = self._json(response, "discovery document")
        if str(doc.get("issuer", "")).rstrip("/") != self.config.issuer:
            raise ProviderUnavailable(
                f"the discovery document names issuer {doc.get('issuer')!r}, not OIDC_ISSUER {self.config.issuer!r}"
            )
        fallback = keycloak_endpoints(base)
        return Endpoints(
            authorization=doc.get("authorization_endpoint") or fallback.authorization,
            token=doc.get("token_endpoint") or fallback.token,
            userinfo=doc.get("userinfo_endpoint") or fallback.userinfo,
            jwks=doc.get("jwks_uri") or fallback.jwks,
            end_session=doc.get("end_session_endpoint") or fallback.end_session,
        )

    # --- keys -------------------------------------------------------------
    def signing_key(self, kid: str | None, alg: str) -> jwt.PyJWK:
        """The published key ``kid`` for ``alg``; refetches the JWKS for an unknown kid (with a cooldown).

        Raises UnknownSigningKey, or ProviderUnavailable when no keys are
        cached and the provider cannot be reached.
        """
        endpoints = self.endpoints()
        with self._lock:
            now = time.monotonic()
            if not self._keys or now - self._keys_at >= self.config.jwks_ttl:
                self._refresh(endpoints.jwks, now)
            key = self._pick(kid, alg)
            if key is None and now - self._last_fetch_at >= self.config.refetch_cooldown:
                self._refresh(endpoints.jwks, now)
                key = self._pick(kid, alg)
            if key is None:
                raise UnknownSigningKey(f"the token's signing key {kid!r} is not published by the provider")
            return key

    def _pick(self, kid: str | None, alg: str) -> jwt.PyJWK | None:
        if kid is not None:
            key = self._keys.get(kid)
            return key if key is not None and key.algorithm_name == alg else None
        # A token without kid is accepted only when exactly one key could have signed it.
        matching = [key for key in self._keys.values() if key.algorithm_name == alg]
        return matching[0] if len(matching) == 1 else None

    def _refresh(self, url: str, now: float) -> None:
        self._last_fetch_at = now
        try:
            self.jwks_fetches += 1
            log.info("fetching the JWKS of %s", self.config.issuer)
            doc = self._json(self._get(url), "JWKS")
            keys = {}
            for entry in doc.get("keys", []):
                if not isinstance(entry, dict) or entry.get("use", "sig") != "sig" or "kid" not in entry:
                    continue
                if entry.get("kty") != "RSA" and entry.get("kty") != "EC":
                    continue
                try:
                    keys[entry["kid"]] = jwt.PyJWK(entry, algorithm=entry.get("alg"))
                except jwt.PyJWTError:
                    log.warning("ignoring an unusable JWK %r from %s", entry.get("kid"), url)
        except ProviderUnavailable:
            if not self._keys:
                raise
            log.warning("JWKS refresh failed; keeping %d cached keys", len(self._keys), exc_info=True)
            return
        self._keys = keys
        self._keys_at = now


_providers: dict[OidcConfig, OidcProvider] = {}
_registry_lock = threading.Lock()


def provider_for(config: OidcConfig) -> OidcProvider:
    """The cached provider of ``config`` (one per distinct configuration in this process)."""
    with _registry_lock:
        provider = _providers.get(config)
        if provider is None:
            provider = _providers[config] = OidcProvider(config)
        return provider


def reset_cache() -> None:
    """Forget every cached discovery document and key (tests; a settings change)."""
    with _registry_lock:
        _providers.clear()
