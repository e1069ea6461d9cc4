"""Users of Bearer tokens: matched on sub, created and updated on sight, never merged by email."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from perfmon.accounts.models import OidcIdentity
from perfmon.tenants.models import Membership

pytestmark = pytest.mark.django_db


def test_first_request_creates_the_user_from_the_claims(v1, oidc, tokens, acme):
    assert v1.get("/tests", token=tokens("ada")).status_code == 200

    identity = OidcIdentity.objects.select_related("user").get(sub=oidc.realm.users["ada"].id)
    assert identity.issuer == oidc.issuer
    assert (identity.email, identity.name, identity.preferred_username) == ("ada@example.test", "Ada Admin", "ada")
    assert identity.user.username == "ada"
    assert not identity.user.has_usable_password()
    membership = Membership.all_tenants.get(user=identity.user)
    assert (membership.tenant, membership.role) == (acme, "admin")


def test_later_tokens_update_the_profile_and_the_membership(v1, oidc, acme, globex):
    assert v1.get("/tests", token=oidc.token("max")).status_code == 200
    changed = oidc.mint(oidc.claims_for("max", email="max@new.example", name="Max Renamed", tenant="globex",
                                        realm_access={"roles": ["viewer"]}))

    assert v1.get("/tests", token=changed).status_code == 200

    identity = OidcIdentity.objects.select_related("user").get(sub=oidc.realm.users["max"].id)
    assert OidcIdentity.objects.count() == 1
    assert (identity.email, identity.name, identity.user.email) == ("max@new.example", "Max Renamed", "max@new.example")
    membership = Membership.all_tenants.get(user=identity.user)
    assert (membership.tenant, membership.role) == (globex, "viewer")


def test_same_email_with_another_sub_is_another_user(v1, oidc, acme):
    assert v1.get("/tests", token=oidc.token("max")).status_code == 200
    impostor = oidc.mint(oidc.claims_for("max", sub="another-subject", preferred_username="max"))

    assert v1.get("/auth/me", token=impostor).status_code == 200

    assert OidcIdentity.objects.count() == 2
    users = get_user_model().objects.filter(oidc_identity__isnull=False).order_by("date_joined")
    assert [u.username for u in users][0] == "max"
    assert users[1].username.startswith("max-")  # never the existing account


def test_a_local_account_with_the_same_name_is_never_taken_over(v1, oidc, acme, django_user_model):
    local = django_user_model.objects.create_superuser("ada", "ada@example.test", "local-pw")

    assert v1.get("/tests", token=oidc.token("ada")).status_code == 200

    identity = OidcIdentity.objects.get(sub=oidc.realm.users["ada"].id)
    assert identity.user_id != local.pk
    local.refresh_from_db()
    assert local.check_password("local-pw") and local.is_superuser


def test_losing_every_role_removes_the_membership(v1, oidc, acme):
    assert v1.get("/tests", token=oidc.token("max")).status_code == 200
    demoted = oidc.mint(oidc.claims_for("max", realm_access={"roles": ["offline_access"]}))

    assert v1.get("/tests", token=demoted).status_code == 403

    assert not Membership.all_tenants.filter(user__oidc_identity__sub=oidc.realm.users["max"].id).exists()


def test_a_steady_user_costs_one_query_per_request(v1, oidc, tokens, acme, django_assert_num_queries):
    token = tokens("vera")
    v1.get("/auth/me", token=token)

    with django_assert_num_queries(1):
        assert v1.get("/auth/me", token=token).status_code == 200
