from datetime import timedelta

import pytest
from django.utils import timezone

from perfmon.tenants.models import ApiKey
from perfmon.tenants.services import authenticate_api_key, create_api_key, revoke_api_key


def test_key_is_stored_only_as_digest_with_visible_prefix(acme):
    new = create_api_key(tenant=acme, name="ci")
    row = ApiKey.objects.for_tenant(acme).get()
    assert new.value.startswith(f"pmk_{row.prefix}_")
    assert new.value not in (row.key_hash, row.prefix, row.name)
    assert len(row.key_hash) == 64 and new.value[-20:] not in row.key_hash


def test_lookup_returns_the_key_and_its_tenant(acme):
    new = create_api_key(tenant=acme)
    found = authenticate_api_key(new.value)
    assert found == new.api_key
    assert found.tenant == acme


@pytest.mark.parametrize(
    "mangle",
    [
        lambda v: v[:-1] + ("A" if v[-1] != "A" else "B"),  # same prefix, wrong secret
        lambda v: v.replace("pmk_", "pma_"),  # another kind of secret
        lambda v: v.split("_")[0] + "_" + v.split("_")[1],  # prefix only
        lambda v: "",
        lambda v: "garbage",
    ],
)
def test_lookup_rejects_wrong_secrets(acme, mangle):
    new = create_api_key(tenant=acme)
    assert authenticate_api_key(mangle(new.value)) is None


def test_revoked_key_no_longer_authenticates_and_keeps_first_revocation_time(acme):
    new = create_api_key(tenant=acme)
    first = revoke_api_key(tenant=acme, api_key_id=new.api_key.pk).revoked_at
    assert authenticate_api_key(new.value) is None
    assert revoke_api_key(tenant=acme, api_key_id=new.api_key.pk).revoked_at == first


def test_tenant_cannot_revoke_another_tenants_key(acme, globex):
    from perfmon.core.errors import NotFound

    new = create_api_key(tenant=acme)
    with pytest.raises(NotFound):
        revoke_api_key(tenant=globex, api_key_id=new.api_key.pk)
    assert authenticate_api_key(new.value) is not None


def test_last_used_is_written_at_most_once_a_minute(acme):
    new = create_api_key(tenant=acme)
    authenticate_api_key(new.value)
    first = ApiKey.objects.for_tenant(acme).get().last_used_at
    assert first is not None
    authenticate_api_key(new.value)
    assert ApiKey.objects.for_tenant(acme).get().last_used_at == first

    stale = timezone.now() - timedelta(minutes=2)
    ApiKey.objects.for_tenant(acme).update(last_used_at=stale)
    authenticate_api_key(new.value)
    assert ApiKey.objects.for_tenant(acme).get().last_used_at > stale


def test_key_of_deactivated_tenant_is_rejected(acme):
    new = create_api_key(tenant=acme)
    acme.is_active = False
    acme.save()
    assert authenticate_api_key(new.value) is None
