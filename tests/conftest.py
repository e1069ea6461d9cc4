"""Shared fixtures: named people per tenant, API clients, and the CI strictness flag.

Tenant A ("acme"): alice (admin) and bob (member). Tenant B ("globex"):
mallory, who must never see anything of acme's.
"""

from __future__ import annotations

import os

import pytest

REQUIRE_ALL = os.environ.get("PERFMON_REQUIRE_ALL") == "1"


def require(condition: bool, what: str) -> None:
    """Skip locally when a service or tool is missing; fail on CI (PERFMON_REQUIRE_ALL=1)."""
    if condition:
        return
    if REQUIRE_ALL:
        pytest.fail(f"{what} is required on CI but missing")
    pytest.skip(f"{what} is not available here")


@pytest.fixture
def acme(db):
    from perfmon.tenants.services import create_tenant

    return create_tenant(name="Acme", slug="acme")


@pytest.fixture
def globex(db):
    from perfmon.tenants.services import create_tenant

    return create_tenant(name="Globex", slug="globex")


def _person(tenant, username: str, role: str):
    from django.contrib.auth import get_user_model

    from perfmon.tenants.models import Membership

    user = get_user_model().objects.create_user(username=username, password=f"{username}-pw")
    Membership.objects.create(tenant=tenant, user=user, role=role)
    return user


@pytest.fixture
def alice(acme):
    return _person(acme, "alice", "admin")


@pytest.fixture
def bob(acme):
    return _person(acme, "bob", "member")


@pytest.fixture
def mallory(globex):
    return _person(globex, "mallory", "admin")


@pytest.fixture
def acme_key(acme):
    from perfmon.tenants.services import create_api_key

    return create_api_key(tenant=acme, name="acme-ci").value


@pytest.fixture
def globex_key(globex):
    from perfmon.tenants.services import create_api_key

    return create_api_key(tenant=globex, name="globex-ci").value


@pytest.fixture
def api(client):
    """A Django test client speaking JSON to /api with an optional key."""

    class Api:
        def __init__(self, client):
            self.client = client

        def get(self, path, key=None, **kwargs):
            return self.client.get(path, headers=self._headers(key), **kwargs)

        def post(self, path, data=None, key=None, **kwargs):
            kwargs.setdefault("content_type", "application/json")
            return self.client.post(path, data=data, headers=self._headers(key), **kwargs)

        def patch(self, path, data=None, key=None):
            return self.client.patch(path, data=data, content_type="application/json", headers=self._headers(key))

        def delete(self, path, key=None):
            return self.client.delete(path, headers=self._headers(key))

        @staticmethod
        def _headers(key):
            return {"X-API-Key": key} if key else {}

    return Api(client)


@pytest.fixture(scope="session")
def oidc_provider():
    """The test OpenID provider (tests/oidc_provider), one process per session, started on first use."""
    from tests.oidc_provider.plugin import shared_provider

    return shared_provider()


@pytest.fixture
def oidc(oidc_provider, settings):
    """perfmon configured for the test provider, with empty discovery/JWKS caches."""
    from perfmon.accounts.provider import reset_cache

    for name, value in oidc_provider.settings().items():
        setattr(settings, name, value)
    reset_cache()
    yield oidc_provider
    reset_cache()


@pytest.fixture(scope="session")
def keycloak(tmp_path_factory):
    """A real Keycloak (scripts/keycloak.sh) with the test realm, started once per session on a free port.

    Needs the pinned Keycloak installed (`bash scripts/keycloak.sh --install`): skipped without it,
    failed on CI. About 30 s to start; tests/oidc_provider/keycloak.py says what the realm holds.
    """
    from tests.oidc_provider.keycloak import KeycloakTestRealm, keycloak_installed
    from tests.oidc_provider.plugin import test_realm

    require(keycloak_installed(), "Keycloak (bash scripts/keycloak.sh --install)")
    server = KeycloakTestRealm(base_realm=test_realm(), workdir=tmp_path_factory.mktemp("keycloak")).start()
    yield server
    server.stop()


@pytest.fixture
def keycloak_oidc(keycloak, settings):
    """perfmon configured for the real Keycloak, with empty discovery/JWKS caches."""
    from perfmon.accounts.provider import reset_cache

    for name, value in keycloak.settings().items():
        setattr(settings, name, value)
    reset_cache()
    yield keycloak
    reset_cache()


@pytest.fixture
def stack_database():
    """Environment entries giving a `make up` stack started by a test a database of its own."""
    from tests.test_stack import own_database

    with own_database() as env:
        yield env
