"""The audit log records who created, changed and deleted monitors, tests, keys, licenses and channels."""

from __future__ import annotations

import base64

import pytest

from perfmon.alerts.models import NotificationChannel
from perfmon.operations.models import AuditEntry
from perfmon.tenants.models import ApiKey
from perfmon.tenants.services import create_api_key, revoke_api_key

pytestmark = pytest.mark.django_db

SCRIPT = base64.b64encode(b"export default function () {}").decode()


def entries(**filters):
    return list(AuditEntry.all_tenants.filter(**filters).order_by("id"))


def test_api_changes_to_a_monitor_are_recorded_with_the_key_as_actor(api, acme, acme_key):
    created = api.post("/api/monitors", {"name": "Login", "schedule": "*/5 * * * *", "tool": "k6",
                                         "scriptContent": SCRIPT}, key=acme_key)
    assert created.status_code == 201, created.content
    monitor_id = created.json()["id"]
    assert api.patch(f"/api/monitors/{monitor_id}", {"enabled": False, "schedule": "*/10 * * * *"},
                     key=acme_key).status_code == 200
    assert api.delete(f"/api/monitors/{monitor_id}", key=acme_key).status_code == 204

    trail = entries(object_type="monitor", object_id=monitor_id)
    assert [e.action for e in trail] == ["created", "updated", "deleted"]
    assert all(e.actor.startswith("api-key:") and "acme-ci" in e.actor for e in trail)
    assert all(e.tenant_id == acme.pk for e in trail)
    assert trail[0].changes["name"] == "Login"
    assert trail[1].changes["enabled"] == [True, False]
    assert trail[1].changes["schedule"] == ["*/5 * * * *", "*/10 * * * *"]
    # The monitor's test was created and deleted with it.
    assert [e.action for e in entries(object_type="test")] == ["created", "deleted"]


def test_keys_are_recorded_without_their_secret_and_commands_act_as_system(acme):
    new = create_api_key(tenant=acme, name="ci")
    revoke_api_key(tenant=acme, api_key_id=new.api_key.pk)
    created, revoked = entries(object_type="api key")
    assert (created.action, revoked.action) == ("created", "updated")
    assert created.actor == "system"
    assert created.changes["key_hash"] == "(set)" and new.value not in str(created.changes)
    assert set(revoked.changes) == {"revoked_at"}


def test_bookkeeping_writes_are_not_changes(acme):
    key = create_api_key(tenant=acme, name="ci").api_key
    before = AuditEntry.all_tenants.count()
    key.save(update_fields=["last_used_at"])
    ApiKey.all_tenants.get(pk=key.pk).save()  # nothing changed
    assert AuditEntry.all_tenants.count() == before


def test_admin_changes_name_the_operator_and_the_log_is_filterable(client, acme, globex):
    from django.contrib.auth import get_user_model

    operator = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(operator)
    response = client.post("/admin/alerts/notificationchannel/add/", {
        "tenant": acme.pk, "name": "ops hook", "kind": "webhook", "url": "https://hooks.example.com/x",
        "secret": "s3cret", "email_to": "", "enabled": "on",
    })
    assert response.status_code == 302, response.content[:2000]
    channel = NotificationChannel.objects.for_tenant(acme).get(name="ops hook")
    [entry] = entries(object_type="channel")
    assert entry.actor == "user:root" and entry.object_id == str(channel.pk)
    assert entry.changes["secret"] == "(set)" and "s3cret" not in str(entry.changes)
    # a channel's URL may be its credential (Slack's incoming webhooks)
    assert entry.changes["url"] == "(set)" and "hooks.example.com" not in str(entry.changes)
    create_api_key(tenant=globex, name="other")

    page = client.get("/admin/operations/auditentry/", {"object_type": "channel"})
    assert page.status_code == 200
    assert b"ops hook" in page.content and b"other" not in page.content
    assert client.get("/admin/operations/auditentry/", {"tenant__id__exact": str(globex.pk)}).status_code == 200
    assert client.get(f"/admin/operations/auditentry/{entry.pk}/change/").status_code == 200
    assert client.get("/admin/operations/auditentry/add/").status_code == 403


def test_license_installs_are_recorded_without_the_key(api, acme, acme_key, settings):
    from datetime import UTC, datetime, timedelta

    from perfmon.tenants import licensing

    private_pem, public_pem = licensing.generate_keypair()
    settings.PERFMON_LICENSE_PUBLIC_KEY = public_pem
    now = datetime.now(UTC)

    def issue(tier: str) -> str:
        return licensing.sign(licensing.load_private_key(private_pem), tenant="acme", tier=tier, monitor_limit=50,
                              valid_until=now + timedelta(days=30), issued_at=now - timedelta(days=1))

    first, second = issue("professional"), issue("enterprise")
    for key in (first, second):
        assert api.post("/api/settings/license", {"licenseKey": key}, key=acme_key).status_code == 200
    created, updated = entries(object_type="license")
    assert (created.action, updated.action) == ("created", "updated")
    assert updated.changes["tier"] == ["professional", "enterprise"]
    assert updated.changes["token"] == "(changed)"
    assert first not in str(created.changes) and second not in str(updated.changes)
    assert created.actor.startswith("api-key:")
