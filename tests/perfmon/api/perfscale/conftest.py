"""Fixtures of the /api/v1 tests: a Bearer JSON client (the provider fixtures are in tests/conftest.py)."""

from __future__ import annotations

import pytest


@pytest.fixture
def v1(client, oidc):
    """A JSON client for /api/v1 that sends ``Authorization: Bearer <token>``."""

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
    """Fresh access tokens from the provider's token endpoint (password grant), by user name."""
    cache: dict[str, str] = {}

    def get(username: str) -> str:
        if username not in cache:
            cache[username] = oidc.token(username)
        return cache[username]

    return get
