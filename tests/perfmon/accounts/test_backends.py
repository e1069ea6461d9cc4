"""OidcBackend against the test provider: Bearer tokens verified locally, browser logins refused without a tenant
or a role."""

from __future__ import annotations

import pytest
from django.core.exceptions import SuspiciousOperation

from perfmon.accounts.backends import OidcBackend
from perfmon.accounts.provider import NotConfigured
from perfmon.accounts.tokens import InvalidToken
from perfmon.tenants.models import Membership

pytestmark = pytest.mark.django_db


def test_a_bearer_token_names_its_user_tenant_and_roles(oidc, acme):
    token, seen = OidcBackend().authenticate_bearer(oidc.token("max"))
    assert token.sub == oidc.realm.users["max"].id and token.issuer == oidc.issuer
    assert (seen.user.username, seen.tenant, seen.roles) == ("max", acme, {"member", "viewer"})
    assert Membership.all_tenants.get(user=seen.user).role == "member"


def test_a_token_signed_by_another_key_is_refused_and_nobody_is_created(oidc, acme, django_user_model):
    from tests.oidc_provider.fixture import new_rsa_key

    forged = oidc.mint(oidc.claims_for("ada"), key=new_rsa_key(), kid=oidc.kid)
    with pytest.raises(InvalidToken):
        OidcBackend().authenticate_bearer(forged)
    assert not django_user_model.objects.exists()


def test_without_a_configured_provider_bearer_tokens_are_not_configured(db, settings):
    settings.OIDC_ISSUER = ""
    with pytest.raises(NotConfigured):
        OidcBackend().authenticate_bearer("anything")
    assert OidcBackend().authenticate(None) is None  # browser login is simply not offered


@pytest.mark.parametrize(("username", "reason"), [
    ("tom", "login refused: the token has no 'tenant' claim naming a tenant"),
    ("uma", "login refused: tenant 'nowhere' does not exist"),
    ("nora", "login refused: the user has none of the realm roles viewer, member, admin"),
])
def test_a_browser_login_without_a_tenant_or_a_role_is_refused(oidc, acme, username, reason):
    access = oidc.token(username)
    with pytest.raises(SuspiciousOperation) as caught:
        OidcBackend().get_or_create_user(access, None, {"sub": oidc.realm.users[username].id})
    assert str(caught.value) == reason


def test_a_browser_login_whose_tokens_name_different_users_is_refused(oidc, acme):
    with pytest.raises(SuspiciousOperation, match="different users"):
        OidcBackend().get_or_create_user(oidc.token("ada"), None, {"sub": oidc.realm.users["max"].id})
    user = OidcBackend().get_or_create_user(oidc.token("ada"), None, {"sub": oidc.realm.users["ada"].id})
    assert user.username == "ada" and OidcBackend().get_user(user.pk) == user


def test_an_access_token_is_no_id_token(oidc, acme):
    with pytest.raises(SuspiciousOperation, match="ID token refused"):
        OidcBackend().verify_token(oidc.token("ada"), nonce="n-1")
