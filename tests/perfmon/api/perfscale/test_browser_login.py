"""Browser login through mozilla-django-oidc's authorization code flow (state, nonce, PKCE)
against the real Keycloak: perfmon redirects, Keycloak's own login form signs the user in and
sends a code back, perfmon exchanges it over HTTP and verifies the ID and access tokens.
(tests/web/test_oidc_login.py does the same in Chromium.)"""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest

from perfmon.accounts.models import OidcIdentity
from perfmon.tenants.models import Membership

pytestmark = pytest.mark.django_db


def _login(client, oidc, username: str):
    start = client.get("/oidc/authenticate/")
    assert start.status_code == 302
    authorize_url = start["Location"]
    back = oidc.sign_in(authorize_url, username)
    assert back.startswith("http://testserver/oidc/callback/?")
    return authorize_url, client.get(back.removeprefix("http://testserver"))


def test_login_redirects_to_the_discovered_authorization_endpoint_with_pkce(client, oidc):
    response = client.get("/oidc/authenticate/")

    assert response.status_code == 302
    url = urlparse(response["Location"])
    query = parse_qs(url.query)
    assert f"{url.scheme}://{url.netloc}{url.path}" == f"{oidc.issuer}/protocol/openid-connect/auth"
    assert query["client_id"] == ["perfscale-site"]
    assert query["redirect_uri"] == ["http://testserver/oidc/callback/"]
    assert query["response_type"] == ["code"]
    assert query["code_challenge_method"] == ["S256"]
    assert set(query["scope"][0].split()) == {"openid", "email", "profile"}
    assert query["state"] and query["nonce"]


def test_member_signs_in_and_the_session_knows_tenant_and_role(client, oidc, acme):
    _, done = _login(client, oidc, "max")

    assert done.status_code == 302
    assert done["Location"] == "/"
    identity = OidcIdentity.objects.get(sub=oidc.realm.users["max"].id)
    assert int(client.session["_auth_user_id"]) == identity.user_id
    membership = Membership.all_tenants.get(user=identity.user)
    assert (membership.tenant, membership.role) == (acme, "member")
    assert (identity.user.email, identity.user.first_name, identity.user.last_name) == (
        "max@example.test", "Max", "Member",
    )


@pytest.mark.parametrize("username", ["nora", "tom", "uma"])
def test_login_without_a_role_or_a_known_tenant_is_refused(client, oidc, acme, username):
    _, done = _login(client, oidc, username)

    assert done.status_code == 302
    assert "_auth_user_id" not in client.session


def test_callback_with_a_forged_state_is_refused(client, oidc, acme):
    client.get("/oidc/authenticate/")

    response = client.get("/oidc/callback/?code=abc&state=not-the-one")

    assert response.status_code == 400
    assert "_auth_user_id" not in client.session


def test_login_is_unavailable_while_oidc_is_unconfigured(client, settings):
    settings.OIDC_ISSUER = ""

    response = client.get("/oidc/authenticate/")

    assert response.status_code == 503
    assert b"OIDC is not configured" in response.content


def test_admin_password_login_still_works_beside_oidc(client, oidc, django_user_model):
    django_user_model.objects.create_superuser("root", "root@example.test", "root-pw")

    assert client.login(username="root", password="root-pw")
