"""update_tenant renames and (de)activates a tenant; memberships are added, changed and removed with a known role."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from perfmon.core.errors import ValidationFailed
from perfmon.tenants.models import Membership, Tenant
from perfmon.tenants.services import (
    add_membership,
    authenticate_api_key,
    create_api_key,
    remove_membership,
    update_membership,
    update_tenant,
)


def refused(call, **kwargs) -> dict:
    with pytest.raises(ValidationFailed) as caught:
        call(**kwargs)
    return caught.value.details


def test_deactivating_a_tenant_refuses_its_keys_until_it_is_active_again(acme):
    key = create_api_key(tenant=acme, name="ci").value
    assert authenticate_api_key(key) is not None
    update_tenant(tenant=acme, is_active=False)
    assert Tenant.objects.get(slug="acme").is_active is False
    assert authenticate_api_key(key) is None
    update_tenant(tenant=acme, is_active=True)
    assert authenticate_api_key(key) is not None


def test_a_tenant_is_renamed_but_keeps_its_slug(acme):
    update_tenant(tenant=acme, name="  Acme Corp ")
    assert refused(update_tenant, tenant=acme, name=" ") == {"name": ["A tenant needs a name."]}
    assert refused(update_tenant, tenant=acme, slug="acme-corp") == {"slug": ["Unknown field."]}
    assert refused(update_tenant, tenant=acme, is_active="no") == {"is_active": ["Must be true or false."]}
    stored = Tenant.objects.get(pk=acme.pk)
    assert (stored.name, stored.slug, stored.is_active) == ("Acme Corp", "acme", True)


def test_a_membership_needs_a_known_role_and_a_user_without_another_tenant(acme, globex, mallory):
    carol = get_user_model().objects.create_user(username="carol")
    assert refused(add_membership, tenant=acme, user=carol, role="owner") == {
        "role": ["Must be one of viewer, member, admin."]}
    assert refused(add_membership, tenant=acme, user=mallory, role="viewer") == {
        "user": ["mallory is already a member of globex."]}
    assert not Membership.objects.for_tenant(acme).exists()
    assert Membership.all_tenants.get(user=mallory).tenant == globex

    membership = add_membership(tenant=acme, user=carol, role="viewer")
    assert (membership.tenant, membership.user, membership.role) == (acme, carol, "viewer")


def test_a_membership_changes_role_or_user_and_is_removed(acme, globex, alice, mallory):
    membership = Membership.objects.for_tenant(acme).get(user=alice)
    assert refused(update_membership, tenant=acme, membership=membership, role="root") == {
        "role": ["Must be one of viewer, member, admin."]}
    assert refused(update_membership, tenant=acme, membership=membership, user=mallory) == {
        "user": ["mallory is already a member of globex."]}
    with pytest.raises(ValueError):
        update_membership(tenant=globex, membership=membership, role="viewer")
    assert Membership.objects.for_tenant(acme).get(user=alice).role == "admin"

    update_membership(tenant=acme, membership=membership, role="viewer")
    assert Membership.objects.for_tenant(acme).get(user=alice).role == "viewer"
    remove_membership(tenant=acme, membership=membership)
    assert not Membership.all_tenants.filter(user=alice).exists()
