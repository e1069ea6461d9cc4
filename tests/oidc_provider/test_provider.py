"""The test OpenID provider behaves like the Keycloak realm it imports (compose/keycloak)."""

from __future__ import annotations

import json

import jwt
import requests

from tests.oidc_provider.fixture import COMPOSE_REALM
from tests.oidc_provider.realm import Realm


def test_it_starts_in_a_few_seconds(oidc_provider):
    assert oidc_provider.startup_seconds < 5


def test_discovery_document_has_keycloaks_layout(oidc_provider):
    doc = requests.get(f"{oidc_provider.issuer}/.well-known/openid-configuration", timeout=10).json()

    base = f"{oidc_provider.issuer}/protocol/openid-connect"
    assert doc["issuer"] == oidc_provider.issuer
    assert (doc["authorization_endpoint"], doc["token_endpoint"], doc["jwks_uri"], doc["userinfo_endpoint"]) == (
        f"{base}/auth", f"{base}/token", f"{base}/certs", f"{base}/userinfo",
    )


def test_jwks_publishes_the_fixtures_signing_key(oidc_provider):
    keys = requests.get(f"{oidc_provider.issuer}/protocol/openid-connect/certs", timeout=10).json()["keys"]

    assert [(k["kid"], k["alg"], k["use"], k["kty"]) for k in keys] == [(oidc_provider.kid, "RS256", "sig", "RSA")]


def test_password_grant_issues_a_keycloak_shaped_rs256_access_token(oidc_provider):
    response = oidc_provider.password_grant("demo@perfscale.ru", "demo1234")

    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 300
    token = body["access_token"]
    assert jwt.get_unverified_header(token) == {"alg": "RS256", "kid": oidc_provider.kid, "typ": "JWT"}
    claims = jwt.decode(token, oidc_provider.key.public_key(), algorithms=["RS256"], audience="account",
                        issuer=oidc_provider.issuer)
    assert claims["typ"] == "Bearer" and claims["azp"] == "perfscale-site"
    assert claims["exp"] - claims["iat"] == 300
    assert (claims["email"], claims["name"], claims["preferred_username"]) == ("demo@perfscale.ru", "Demo User", "demo")
    assert claims["tenant"] == "demo"  # the realm's user-attribute mapper
    assert "member" in claims["realm_access"]["roles"]
    assert "default-roles-perfscale" in claims["realm_access"]["roles"]


def test_userinfo_answers_for_its_access_tokens(oidc_provider):
    token = oidc_provider.token("vera")

    info = requests.get(f"{oidc_provider.issuer}/protocol/openid-connect/userinfo",
                        headers={"Authorization": f"Bearer {token}"}, timeout=10)

    assert info.status_code == 200
    assert info.json()["preferred_username"] == "vera"
    assert info.json()["tenant"] == "acme"


def test_wrong_password_or_secret_gets_no_token(oidc_provider):
    assert oidc_provider.password_grant("demo", "wrong").status_code in (400, 401)
    assert oidc_provider.password_grant("demo", "demo1234", client_secret="wrong").status_code == 401


def test_compose_realm_matches_what_docs_auth_describes():
    realm = Realm.from_file(COMPOSE_REALM, environ={})

    client = realm.clients["perfscale-site"]
    assert realm.name == "perfscale"
    assert client.direct_access and client.standard_flow and not client.public
    assert client.secret == "perfscale-dev-secret"  # the default of ${PERFSCALE_CLIENT_SECRET}
    demo = realm.user_by_login("demo@perfscale.ru")
    assert demo.password == "demo1234"
    assert "member" in demo.realm_roles
    assert realm.claims(demo, client, token="access")["tenant"] == "demo"
    assert {"viewer", "member", "admin"} <= {r["name"] for r in json.loads(COMPOSE_REALM.read_text())["roles"]["realm"]}
