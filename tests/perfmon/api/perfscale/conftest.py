"""Fixtures of the /api/v1 tests: perfmon pointed at the real Keycloak, and a Bearer JSON client.

``oidc`` here is the session's Keycloak (tests/conftest.py's ``keycloak``), not the
django-oauth-toolkit provider the rest of the suite's ``oidc`` means: every /api/v1 and
browser-login test gets its tokens from Keycloak. ``provider_double`` is that other
provider, for the few cases Keycloak cannot be made to produce (docs/auth.md, *Tests*).
"""

from __future__ import annotations

import pytest


@pytest.fixture
def oidc(keycloak_oidc):
    """perfmon configured for the real Keycloak (tokens from its token endpoint, its JWKS)."""
    return keycloak_oidc


@pytest.fixture
def provider_double(oidc_provider, settings):
    """perfmon configured for the Keycloak-shaped test provider (tests/oidc_provider/), which counts the
    requests it serves and publishes extra keys on demand: the JWKS cache tests need both."""
    from perfmon.accounts.provider import reset_cache

    for name, value in oidc_provider.settings().items():
        setattr(settings, name, value)
    reset_cache()
    yield oidc_provider
    reset_cache()


@pytest.fixture
def v1(client):
    """A JSON client for /api/v1 that sends ``Authorization: Bearer <token>`` (whichever provider
    the test configured perfmon for: ``oidc`` or ``provider_double``)."""

    class V1:
        def __init__(self, client):
            self.client = client

        def get(self, path, token=None, **kwargs):
            return self.client.get(f"/api/v1{path}", headers=self._headers(token), **kwargs)

        def post(self, path, data=None, token=None):
            return self.client.post(f"/api/v1{path}", data=data, content_type="application/json",
                                    headers=self._headers(token))

        def patch(self, path, data=None, token=None):
            return self.client.patch(f"/api/v1{path}", data=data, content_type="application/json",
                                     headers=self._headers(token))

        def delete(self, path, token=None):
            return self.client.delete(f"/api/v1{path}", headers=self._headers(token))

        @staticmethod
        def _headers(token):
            return {"Authorization": f"Bearer {token}"} if token else {}

    return V1(client)


@pytest.fixture
def tokens(oidc, acme, globex):
    """Access tokens from Keycloak's token endpoint (password grant), by user name."""
    cache: dict[str, str] = {}

    def get(username: str) -> str:
        if username not in cache:
            cache[username] = oidc.token(username)
        return cache[username]

    return get
