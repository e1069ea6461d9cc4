from datetime import UTC, datetime, timedelta

import pytest
from django.test import override_settings

from perfmon.core.errors import ValidationFailed
from perfmon.tenants import licensing
from perfmon.tenants.models import License
from perfmon.tenants.services import effective_license, install_license

NOW = datetime(2026, 6, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def vendor_key():
    private_pem, public_pem = licensing.generate_keypair()
    return licensing.load_private_key(private_pem), public_pem


def issue(key, tenant="acme", days=30, **kwargs):
    return licensing.sign(
        key, tenant=tenant, tier=kwargs.get("tier", "professional"),
        monitor_limit=kwargs.get("monitor_limit", 50),
        valid_until=kwargs.get("now", NOW) + timedelta(days=days),
        issued_at=kwargs.get("now", NOW),
    )


def test_valid_key_verifies_with_its_claims(vendor_key):
    private, public_pem = vendor_key
    claims = licensing.verify(issue(private), licensing.load_public_key(public_pem), tenant="acme", now=NOW)
    assert (claims.tenant, claims.tier, claims.monitor_limit) == ("acme", "professional", 50)
    assert claims.valid_until == NOW + timedelta(days=30)


def test_public_key_in_raw_base64_form_verifies_too(vendor_key):
    private, public_pem = vendor_key
    one_line = licensing.public_key_base64(public_pem)
    assert licensing.verify(issue(private), licensing.load_public_key(one_line), tenant="acme", now=NOW)


def test_expired_key_is_rejected_with_its_expiry(vendor_key):
    private, public_pem = vendor_key
    token = issue(private, days=1)
    with pytest.raises(licensing.LicenseInvalid, match="expired on 2026-06-02"):
        licensing.verify(token, licensing.load_public_key(public_pem), tenant="acme", now=NOW + timedelta(days=2))


def test_tampered_payload_is_rejected(vendor_key):
    private, public_pem = vendor_key
    prefix, body, signature = issue(private, monitor_limit=5).split(".")
    payload = licensing._b64d(body).replace(b'"monitor_limit":5', b'"monitor_limit":5000')
    forged = ".".join([prefix, licensing._b64e(payload), signature])
    with pytest.raises(licensing.LicenseInvalid, match="signature does not verify"):
        licensing.verify(forged, licensing.load_public_key(public_pem), tenant="acme", now=NOW)


def test_key_signed_by_another_vendor_key_is_rejected(vendor_key):
    _, public_pem = vendor_key
    other_private, _ = licensing.generate_keypair()
    token = issue(licensing.load_private_key(other_private))
    with pytest.raises(licensing.LicenseInvalid, match="signature does not verify"):
        licensing.verify(token, licensing.load_public_key(public_pem), tenant="acme", now=NOW)


def test_key_for_another_tenant_is_rejected(vendor_key):
    private, public_pem = vendor_key
    with pytest.raises(licensing.LicenseInvalid, match="issued for tenant 'globex'"):
        licensing.verify(issue(private, tenant="globex"), licensing.load_public_key(public_pem), tenant="acme", now=NOW)


@pytest.mark.parametrize("token", ["", "PMLIC1", "PMLIC1.a.b", "nope.nope.nope", "PMLIC1..", "PMLIC1.!!.??"])
def test_malformed_keys_are_rejected_clearly(vendor_key, token):
    _, public_pem = vendor_key
    with pytest.raises(licensing.LicenseInvalid):
        licensing.verify(token, licensing.load_public_key(public_pem), tenant="acme", now=NOW)


def test_install_stores_verified_license_and_changes_effective_tier(acme, vendor_key):
    private, public_pem = vendor_key
    from django.utils import timezone as dj_tz

    token = issue(private, now=dj_tz.now(), monitor_limit=12)
    assert effective_license(acme).tier == "community"
    with override_settings(PERFMON_LICENSE_PUBLIC_KEY=public_pem):
        install_license(tenant=acme, token=token)
    effective = effective_license(acme)
    assert (effective.tier, effective.monitor_limit, effective.licensed, effective.expired) == (
        "professional", 12, True, False,
    )


def test_install_rejects_foreign_key_and_changes_nothing(acme, vendor_key):
    private, public_pem = vendor_key
    from django.utils import timezone as dj_tz

    token = issue(private, tenant="globex", now=dj_tz.now())
    with override_settings(PERFMON_LICENSE_PUBLIC_KEY=public_pem), pytest.raises(ValidationFailed) as err:
        install_license(tenant=acme, token=token)
    assert "globex" in err.value.message
    assert not License.objects.for_tenant(acme).exists()


def test_install_without_configured_public_key_explains_why(acme, vendor_key):
    private, _ = vendor_key
    with override_settings(PERFMON_LICENSE_PUBLIC_KEY=""), pytest.raises(ValidationFailed, match="no license public key"):
        install_license(tenant=acme, token=issue(private))


def test_expired_installed_license_is_reported_expired_not_community(acme, vendor_key):
    private, public_pem = vendor_key
    from django.utils import timezone as dj_tz

    with override_settings(PERFMON_LICENSE_PUBLIC_KEY=public_pem):
        install_license(tenant=acme, token=issue(private, now=dj_tz.now()))
    License.objects.for_tenant(acme).update(valid_until=dj_tz.now() - timedelta(seconds=1))
    effective = effective_license(acme)
    assert effective.expired and effective.tier == "professional"
