"""sync_oidc_user: users matched on (issuer, sub), profile and membership mirrored from the token's claims."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from perfmon.accounts.models import OidcIdentity
from perfmon.accounts.services import effective_roles, highest_role, sync_oidc_user
from perfmon.accounts.tokens import VerifiedToken
from perfmon.tenants.models import Membership
from perfmon.tenants.services import update_tenant

pytestmark = pytest.mark.django_db

ISSUER = "http://127.0.0.1:1/realms/test"


def token(sub="sub-1", *, issuer=ISSUER, **claims) -> VerifiedToken:
    base = {"sub": sub, "preferred_username": "ada", "email": "ada@example.test", "name": "Ada Lovelace",
            "tenant": "acme", "realm_access": {"roles": ["admin", "offline_access"]}}
    base.update(claims)
    return VerifiedToken(raw="", claims={k: v for k, v in base.items() if v is not None}, issuer=issuer)


def test_roles_include_the_ones_below_and_unknown_realm_roles_grant_nothing():
    assert effective_roles(["admin"]) == {"admin", "member", "viewer"}
    assert effective_roles(["member", "offline_access"]) == {"member", "viewer"}
    assert effective_roles(["offline_access", "uma_authorization"]) == frozenset()
    assert highest_role(effective_roles(["viewer", "member"])) == "member"
    assert highest_role(frozenset()) is None


def test_a_new_subject_becomes_a_user_without_a_password_and_a_member_of_its_tenant(acme):
    seen = sync_oidc_user(token())
    user = seen.user
    assert (user.username, user.email, user.first_name, user.last_name) == ("ada", "ada@example.test", "Ada",
                                                                            "Lovelace")
    assert not user.has_usable_password()
    assert (seen.tenant, seen.tenant_error, seen.actor) == (acme, "", "oidc:ada")
    membership = Membership.all_tenants.get(user=user)
    assert (membership.tenant, membership.role) == (acme, "admin")
    identity = OidcIdentity.objects.get(user=user)
    assert (identity.issuer, identity.sub) == (ISSUER, "sub-1")


def test_the_same_subject_is_the_same_user_and_follows_its_claims(acme, globex):
    first = sync_oidc_user(token()).user
    again = sync_oidc_user(token(email="ada@new.test", tenant=["globex"], realm_access={"roles": ["viewer"]}))
    assert again.user.pk == first.pk and get_user_model().objects.count() == 1
    assert get_user_model().objects.get(pk=first.pk).email == "ada@new.test"
    membership = Membership.all_tenants.get(user=first)
    assert (membership.tenant, membership.role) == (globex, "viewer")  # a one-value list is Keycloak's mapper


def test_another_issuer_or_subject_with_the_same_email_is_another_user(acme):
    ada = sync_oidc_user(token()).user
    other_sub = sync_oidc_user(token("sub-2")).user
    other_issuer = sync_oidc_user(token(issuer="http://127.0.0.1:2/realms/else")).user
    assert len({ada.pk, other_sub.pk, other_issuer.pk}) == 3
    # The name "ada" is taken: the others get a stable suffix, never the first user's account.
    assert other_sub.username.startswith("ada-") and other_sub.username != other_issuer.username


def test_a_local_account_of_the_same_name_is_left_alone(acme, django_user_model):
    local = django_user_model.objects.create_user("ada", password="local-pw")
    user = sync_oidc_user(token()).user
    assert user.pk != local.pk and user.username.startswith("ada-")
    assert django_user_model.objects.get(pk=local.pk).check_password("local-pw")
    assert not Membership.all_tenants.filter(user=local).exists()


@pytest.mark.parametrize(("claims", "reason"), [
    ({"tenant": None}, "the token has no 'tenant' claim naming a tenant"),
    ({"tenant": "nowhere"}, "tenant 'nowhere' does not exist"),
    ({"tenant": ["acme", "globex"]}, "the token has no 'tenant' claim naming a tenant"),
])
def test_without_a_known_tenant_the_user_has_no_membership_and_the_reason_is_given(acme, globex, claims, reason):
    sync_oidc_user(token())
    seen = sync_oidc_user(token(**claims))
    assert (seen.tenant, seen.tenant_error) == (None, reason)
    assert not Membership.all_tenants.filter(user=seen.user).exists()


def test_a_disabled_tenant_or_losing_every_role_ends_the_membership(acme):
    user = sync_oidc_user(token()).user
    seen = sync_oidc_user(token(realm_access={"roles": ["offline_access"]}))
    assert seen.roles == frozenset() and seen.tenant == acme
    assert not Membership.all_tenants.filter(user=user).exists()

    sync_oidc_user(token())
    update_tenant(tenant=acme, is_active=False)
    seen = sync_oidc_user(token())
    assert (seen.tenant, seen.tenant_error) == (None, "tenant 'acme' is disabled")
    assert not Membership.all_tenants.filter(user=user).exists()


def test_the_tenant_claim_is_read_by_the_name_given(acme):
    seen = sync_oidc_user(token(tenant=None, org="acme"), tenant_claim="org")
    assert seen.tenant == acme


def test_an_unchanged_token_writes_nothing(acme, django_assert_max_num_queries):
    sync_oidc_user(token())
    with django_assert_max_num_queries(2):  # the identity with user, membership and tenant; the tenant's check
        seen = sync_oidc_user(token())
    assert seen.tenant == acme
