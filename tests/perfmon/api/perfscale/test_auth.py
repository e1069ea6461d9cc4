"""Bearer authentication of /api/v1 with real tokens from a real Keycloak.

Tokens come from Keycloak's token endpoint with the password grant, as the
API document's curl does; the cases no honest provider would issue are minted
from the claims of a Keycloak token with Keycloak's own signing key (the key
the fixture imported into the realm) or another one, and perfmon checks them
against Keycloak's JWKS. The JWKS cache tests at the end count the provider's
requests and publish keys mid-test, which Keycloak cannot be made to do: they
run against the Keycloak-shaped test provider (``provider_double``).
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time

import jwt
import pytest

from perfmon.accounts.provider import current_config, provider_for
from tests.oidc_provider.fixture import new_rsa_key, public_jwk, unsigned_token

pytestmark = pytest.mark.django_db

ME_FIELDS = {"sub", "email", "name", "preferred_username", "roles"}


def assert_401(response, *, mentions: str = "") -> None:
    assert response.status_code == 401, response.content
    body = response.json()
    assert body["error"] == "unauthorized"
    assert mentions.lower() in body["message"].lower()
    assert response.headers["WWW-Authenticate"].startswith('Bearer realm="perfscale"')


# --- the document's own example: ROPC for the demo user, then /auth/me ---------------


def test_demo_user_signs_in_with_email_and_password_as_the_document_shows(v1, oidc, db):
    from perfmon.tenants.services import create_tenant

    create_tenant(name="Demo", slug="demo")
    response = oidc.password_grant("demo@perfscale.ru", "demo1234")
    assert response.status_code == 200, response.text
    assert response.json()["token_type"] == "Bearer"

    me = v1.get("/auth/me", token=response.json()["access_token"])

    assert me.status_code == 200
    assert me.json() == {
        "sub": oidc.realm.users["demo"].id,
        "email": "demo@perfscale.ru",
        "name": "Demo User",
        "preferred_username": "demo",
        "roles": ["member"],
    }


@pytest.mark.parametrize("username,roles", [("vera", ["viewer"]), ("max", ["member"]), ("ada", ["admin"])])
def test_me_answers_each_role_with_exactly_the_documented_fields(v1, tokens, username, roles):
    response = v1.get("/auth/me", token=tokens(username))

    assert response.status_code == 200
    assert set(response.json()) == ME_FIELDS
    assert response.json()["preferred_username"] == username
    assert response.json()["roles"] == roles


def test_me_works_without_a_role_or_a_tenant(v1, tokens):
    assert v1.get("/auth/me", token=tokens("nora")).json()["roles"] == []
    assert v1.get("/auth/me", token=tokens("tom")).status_code == 200
    assert v1.get("/auth/me", token=tokens("uma")).status_code == 200


# --- 401 ---------------------------------------------------------------------------------


def test_missing_token_is_401_with_a_bearer_challenge(v1, oidc):
    assert_401(v1.get("/machines"), mentions="credentials were not provided")


@pytest.mark.parametrize("header", ["Bearer", "Bearer a b", "Bearer not-a-jwt", "Bearer a.b.c"])
def test_malformed_bearer_header_is_401(client, oidc, header):
    response = client.get("/api/v1/tests", headers={"Authorization": header})
    assert_401(response)


def test_unconfigured_oidc_answers_401_saying_so_even_with_a_token(v1, tokens, settings):
    token = tokens("max")
    settings.OIDC_ISSUER = ""

    assert_401(v1.get("/tests", token=token), mentions="OIDC is not configured")
    assert_401(v1.get("/auth/me"), mentions="OIDC is not configured")


def test_expired_token_is_401_invalid_token(v1, oidc, acme):
    now = int(time.time())
    token = oidc.mint(oidc.claims_for("max", iat=now - 600, exp=now - 120))

    response = v1.get("/auth/me", token=token)

    assert_401(response, mentions="expired")
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_token_expired_within_the_leeway_still_passes(v1, oidc, acme):
    now = int(time.time())
    token = oidc.mint(oidc.claims_for("max", iat=now - 600, exp=now - 5))

    assert v1.get("/auth/me", token=token).status_code == 200


def test_token_of_another_issuer_is_401(v1, oidc, acme):
    token = oidc.mint(oidc.claims_for("max", iss="https://evil.example/realms/perfscale"))
    assert_401(v1.get("/auth/me", token=token), mentions="another issuer")


def test_token_signed_by_another_key_under_the_providers_kid_is_401(v1, oidc, acme):
    forged = oidc.mint(oidc.claims_for("ada"), key=new_rsa_key(), kid=oidc.kid)
    assert_401(v1.get("/auth/me", token=forged), mentions="signature")


def test_token_signed_by_an_unpublished_key_is_401(v1, oidc, acme):
    forged = oidc.mint(oidc.claims_for("ada"), key=new_rsa_key())
    assert_401(v1.get("/auth/me", token=forged), mentions="not published")


def test_alg_none_token_is_401(v1, oidc, acme):
    token = unsigned_token(oidc.claims_for("ada"), kid=oidc.kid)
    assert_401(v1.get("/auth/me", token=token), mentions="'none'")


def test_hmac_signed_token_is_401(v1, oidc, acme):
    token = jwt.encode(oidc.claims_for("ada"), "a-shared-secret-of-at-least-32-bytes", algorithm="HS256",
                       headers={"kid": oidc.kid})
    assert_401(v1.get("/auth/me", token=token), mentions="'HS256'")


def test_token_for_another_client_is_401(v1, oidc, acme):
    token = oidc.mint(oidc.claims_for("max", azp="some-other-app", aud="account"))
    assert_401(v1.get("/auth/me", token=token), mentions="not meant for this API")


def test_audience_setting_demands_that_audience(v1, oidc, acme, settings):
    settings.OIDC_AUDIENCE = "perfmon-api"
    provider_token = oidc.token("max")  # aud "account", azp perfscale-site

    assert_401(v1.get("/auth/me", token=provider_token), mentions="aud lacks 'perfmon-api'")
    scoped = oidc.mint(oidc.claims_for("max", aud=["perfmon-api", "account"]))
    assert v1.get("/auth/me", token=scoped).status_code == 200


def test_aud_naming_the_client_passes_without_azp(v1, oidc, acme):
    token = oidc.mint(oidc.claims_for("max", azp=None, aud="perfscale-site"))
    assert v1.get("/auth/me", token=token).status_code == 200


@pytest.mark.parametrize("typ", ["ID", "Refresh", None])
def test_tokens_that_are_not_access_tokens_are_401(v1, oidc, acme, typ):
    token = oidc.mint(oidc.claims_for("max", typ=typ))
    assert_401(v1.get("/auth/me", token=token), mentions="not an access token")


def test_rfc9068_access_token_header_is_accepted(v1, oidc, acme):
    token = oidc.mint(oidc.claims_for("max", typ=None), headers={"typ": "at+jwt"})
    assert v1.get("/auth/me", token=token).status_code == 200


def test_token_without_sub_is_401(v1, oidc, acme):
    assert_401(v1.get("/auth/me", token=oidc.mint(oidc.claims_for("max", sub=None))), mentions="'sub'")


# --- 403: tenant and roles -----------------------------------------------------------------

EVERY_CALL = [
    ("get", "/machines", None),
    ("post", "/machines", {"name": "n", "hostname": "h.example"}),
    ("get", "/tests", None),
    ("post", "/tests", {"name": "n", "tool": "k6", "script": "x"}),
    ("get", "/tasks", None),
    ("post", "/tasks", {"testId": "00000000-0000-0000-0000-000000000000"}),
    ("delete", "/tasks/00000000-0000-0000-0000-000000000000", None),
    ("patch", "/tests/00000000-0000-0000-0000-000000000000", {"name": "x"}),
]


def _call(v1, method, path, data, token):
    if method in ("get", "delete"):
        return getattr(v1, method)(path, token=token)
    return getattr(v1, method)(path, data, token=token)


@pytest.mark.parametrize("method,path,data", EVERY_CALL)
def test_no_role_is_403_everywhere_but_me(v1, tokens, method, path, data):
    response = _call(v1, method, path, data, tokens("nora"))

    assert response.status_code == 403
    assert response.json()["error"] == "forbidden"
    assert "none of viewer, member, admin" in response.json()["message"]


@pytest.mark.parametrize("method,path,data", EVERY_CALL)
def test_missing_tenant_claim_is_403(v1, tokens, method, path, data):
    response = _call(v1, method, path, data, tokens("tom"))

    assert response.status_code == 403
    assert "no 'tenant' claim" in response.json()["message"]


def test_unknown_tenant_is_403(v1, tokens):
    response = v1.get("/tests", token=tokens("uma"))

    assert response.status_code == 403
    assert "tenant 'nowhere' does not exist" in response.json()["message"]


def test_disabled_tenant_is_403(v1, tokens, acme):
    token = tokens("max")
    acme.is_active = False
    acme.save()

    assert v1.get("/tests", token=token).status_code == 403


def test_tenant_claim_name_comes_from_settings(v1, oidc, acme, settings):
    settings.OIDC_TENANT_CLAIM = "org"
    token = oidc.mint(oidc.claims_for("max", tenant=None, org="acme"))

    assert v1.get("/tests", token=token).status_code == 200
    assert v1.get("/tests", token=oidc.token("max")).status_code == 403  # has "tenant", not "org"


@pytest.mark.parametrize("method,path,data", [c for c in EVERY_CALL if c[0] != "get"])
def test_viewer_may_not_write(v1, tokens, method, path, data):
    response = _call(v1, method, path, data, tokens("vera"))

    assert response.status_code == 403
    assert "needs the 'member' realm role" in response.json()["message"]


@pytest.mark.parametrize("path", ["/machines", "/tests", "/tasks"])
def test_viewer_reads(v1, tokens, path):
    assert v1.get(path, token=tokens("vera")).status_code == 200


# --- the provider unreachable: 503, never 500 ------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_provider_down_is_503(v1, oidc, acme, settings):
    issuer = f"http://127.0.0.1:{_free_port()}/realms/perfscale"  # nothing listens there
    settings.OIDC_ISSUER = issuer
    token = oidc.mint(oidc.claims_for("max", iss=issuer))

    response = v1.get("/tests", token=token)

    assert response.status_code == 503
    assert response.json()["error"] == "service_unavailable"
    assert "unreachable" in response.json()["message"]
    assert response.headers["Retry-After"] == "5"


def test_provider_that_never_answers_is_503_within_the_timeout(v1, oidc, acme, settings):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)  # accepts connections, never answers
    accepted = []
    stop = threading.Event()

    def hold():
        listener.settimeout(0.1)
        while not stop.is_set():
            with contextlib.suppress(OSError):
                accepted.append(listener.accept()[0])

    holder = threading.Thread(target=hold, daemon=True)
    holder.start()
    try:
        issuer = f"http://127.0.0.1:{listener.getsockname()[1]}/realms/perfscale"
        settings.OIDC_ISSUER = issuer
        settings.OIDC_TIMEOUT = 0.5
        started = time.monotonic()
        response = v1.get("/tests", token=oidc.mint(oidc.claims_for("max", iss=issuer)))
        elapsed = time.monotonic() - started
    finally:
        stop.set()
        holder.join()
        for conn in accepted:
            conn.close()
        listener.close()

    assert response.status_code == 503
    assert elapsed < 3


# --- the JWKS cache (the test provider: it counts its requests and publishes keys on demand) ----


def test_jwks_is_fetched_once_for_many_requests(v1, provider_double, acme, globex):
    users = ["ada", "max", "vera", "gina"]
    tokens = {username: provider_double.token(username) for username in users}  # only perfmon's requests count
    before = provider_double.jwks_requests()

    for _ in range(5):
        for username in users:
            assert v1.get("/tests", token=tokens[username]).status_code == 200

    assert provider_double.jwks_requests() - before == 1
    assert provider_for(current_config()).jwks_fetches == 1


def test_rotated_key_is_fetched_once_and_unknown_kids_wait_for_the_cooldown(v1, provider_double, acme, settings):
    oidc = provider_double
    settings.OIDC_JWKS_REFETCH_COOLDOWN = 1.5
    assert v1.get("/tests", token=oidc.token("max")).status_code == 200  # caches the JWKS
    time.sleep(1.6)  # past the cooldown of that first fetch
    rotated = new_rsa_key()
    oidc.publish_extra_keys(public_jwk(rotated))
    try:
        before = oidc.jwks_requests()
        token = oidc.mint(oidc.claims_for("max"), key=rotated)

        assert v1.get("/tests", token=token).status_code == 200  # unknown kid: one refetch finds it
        assert v1.get("/tests", token=token).status_code == 200  # now cached
        assert oidc.jwks_requests() - before == 1

        stranger = oidc.mint(oidc.claims_for("max"), key=new_rsa_key())
        assert v1.get("/tests", token=stranger).status_code == 401  # within the cooldown again: no refetch
        assert v1.get("/tests", token=stranger).status_code == 401
        assert oidc.jwks_requests() - before == 1
    finally:
        oidc.publish_extra_keys()


def test_unknown_kid_refetches_after_the_cooldown(v1, provider_double, acme, settings):
    oidc = provider_double
    settings.OIDC_JWKS_REFETCH_COOLDOWN = 0
    assert v1.get("/tests", token=oidc.token("max")).status_code == 200
    before = oidc.jwks_requests()
    stranger = oidc.mint(oidc.claims_for("max"), key=new_rsa_key())

    assert v1.get("/tests", token=stranger).status_code == 401
    assert v1.get("/tests", token=stranger).status_code == 401

    assert oidc.jwks_requests() - before == 2


def test_foreign_issuer_never_triggers_a_jwks_fetch(v1, provider_double, acme):
    oidc = provider_double
    before = oidc.jwks_requests()
    token = oidc.mint(oidc.claims_for("max", iss="https://evil.example/realms/x"), key=new_rsa_key())

    assert v1.get("/tests", token=token).status_code == 401
    assert oidc.jwks_requests() == before
