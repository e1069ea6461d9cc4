"""The pytest side of the test OpenID provider: one provider process per test session.

``shared_provider()`` starts it on first use (a few seconds at most) and
stops it when the session ends; tests/conftest.py exposes it as the
``oidc_provider`` fixture, and ``oidc`` points perfmon at it.
"""

from __future__ import annotations

import atexit
import json

from tests.oidc_provider.fixture import COMPOSE_REALM, OidcTestProvider, test_user

# The people of the test realm: tenant acme (tests/conftest.py's acme) and globex, one per case.
TEST_USERS = [
    test_user("ada", roles=["admin"], tenant="acme", first="Ada", last="Admin"),
    test_user("max", roles=["member"], tenant="acme", first="Max", last="Member"),
    test_user("vera", roles=["viewer"], tenant="acme", first="Vera", last="Viewer"),
    test_user("nora", roles=[], tenant="acme", first="Nora", last="Norole"),
    test_user("tom", roles=["member"], tenant=None, first="Tom", last="Tenantless"),
    test_user("uma", roles=["member"], tenant="nowhere", first="Uma", last="Unknown"),
    test_user("gina", roles=["admin"], tenant="globex", first="Gina", last="Globex"),
]

_provider: OidcTestProvider | None = None


def test_realm() -> dict:
    """The compose realm export (client, roles, tenant mapper, demo user) plus the test users."""
    realm = json.loads(COMPOSE_REALM.read_text())
    realm["users"] = realm.get("users", []) + TEST_USERS
    return realm


test_realm.__test__ = False


def shared_provider() -> OidcTestProvider:
    global _provider
    if _provider is None:
        _provider = OidcTestProvider(
            realm_data=test_realm(),
            # The Django test client's host: where the provider may send a browser back to.
            environ={"PERFMON_PUBLIC_URL": "http://testserver", "PERFSCALE_CLIENT_SECRET": "test-client-secret"},
        ).start()
        atexit.register(_provider.stop)
    return _provider
