"""Notification channels are made, changed and removed by the services, which check each kind's configuration."""

from __future__ import annotations

import pytest

from perfmon.alerts.channels import sign
from perfmon.alerts.models import Notification, NotificationChannel
from perfmon.alerts.notify import send_test_notification
from perfmon.alerts.services import create_channel, delete_channel, update_channel
from perfmon.core.errors import ValidationFailed


def refused(call, **kwargs) -> dict:
    with pytest.raises(ValidationFailed) as caught:
        call(**kwargs)
    return caught.value.details


def test_a_webhook_keeps_its_url_and_a_usable_signing_secret(acme):
    channel = create_channel(tenant=acme, name="  ops hook ", kind="webhook", url=" https://hooks.example.com/x ",
                             secret="s3cret")
    stored = NotificationChannel.objects.for_tenant(acme).get()
    assert (stored.pk, stored.name, stored.url, stored.enabled) == (channel.pk, "ops hook", "https://hooks.example.com/x",
                                                                    True)
    # Stored as given (not a digest): the notifier must be able to sign with it.
    assert sign(stored.secret, b"{}") == sign("s3cret", b"{}")


@pytest.mark.parametrize(("config", "field", "message"), [
    ({"kind": "webhook"}, "url", "A webhook channel needs the URL it posts to."),
    ({"kind": "slack", "url": "hooks.slack.com/x"}, "url", "Enter an http:// or https:// URL."),
    ({"kind": "webhook", "url": "ftp://127.0.0.1/x"}, "url", "Enter an http:// or https:// URL."),
    ({"kind": "email"}, "email_to", "An e-mail channel needs at least one address."),
    ({"kind": "email", "email_to": "ops@acme.test, not-an-address"}, "email_to",
     "Not an e-mail address: not-an-address."),
    ({"kind": "email", "email_to": "ops@acme.test", "url": "https://x.test/"}, "url",
     "Not used by E-mail channels; leave it empty."),
    ({"kind": "slack", "url": "https://x.test/", "email_to": "ops@acme.test"}, "email_to",
     "Not used by Slack incoming webhook channels; leave it empty."),
    ({"kind": "pager", "url": "https://x.test/"}, "kind", "Must be one of webhook, slack, email."),
    ({"kind": "webhook", "url": "https://x.test/", "secret": "a\x00b"}, "secret", "Null characters are not allowed."),
    ({"kind": "webhook", "url": "https://x.test/" + "a" * 1000}, "url", "At most 1000 characters."),
])
def test_a_channel_its_kind_cannot_deliver_with_is_refused_and_nothing_is_stored(acme, config, field, message):
    details = refused(create_channel, tenant=acme, name="hook", **config)
    assert details == {field: [message]}
    assert not NotificationChannel.all_tenants.exists()


def test_a_blank_name_is_refused(acme):
    assert refused(create_channel, tenant=acme, name="  ", kind="slack", url="https://x.test/") == {
        "name": ["A channel needs a name."]}


def test_addresses_are_normalised_and_only_webhooks_keep_a_secret(acme):
    mail = create_channel(tenant=acme, name="oncall", kind="email", email_to=" a@acme.test,,b@acme.test ",
                          secret="unused")
    slack = create_channel(tenant=acme, name="slack", kind="slack", url="https://hooks.slack.test/x", secret="unused")
    assert NotificationChannel.objects.for_tenant(acme).get(pk=mail.pk).email_to == "a@acme.test, b@acme.test"
    assert NotificationChannel.objects.for_tenant(acme).get(pk=mail.pk).secret == ""
    assert NotificationChannel.objects.for_tenant(acme).get(pk=slack.pk).secret == ""


def test_changes_are_checked_together_with_what_is_kept(acme):
    channel = create_channel(tenant=acme, name="hook", kind="webhook", url="https://hooks.example.com/x", secret="k")
    before = NotificationChannel.objects.for_tenant(acme).get()
    # An e-mail channel has addresses, not a URL: switching kind alone leaves the URL it cannot use.
    assert refused(update_channel, tenant=acme, channel=channel, kind="email", email_to="ops@acme.test") == {
        "url": ["Not used by E-mail channels; leave it empty."]}
    assert refused(update_channel, tenant=acme, channel=channel, url="") == {
        "url": ["A webhook channel needs the URL it posts to."]}
    assert refused(update_channel, tenant=acme, channel=channel, tenant_id="x") == {"tenant_id": ["Unknown field."]}
    stored = NotificationChannel.objects.for_tenant(acme).get()
    assert (stored.kind, stored.url, stored.secret, stored.updated_at) == ("webhook", before.url, "k",
                                                                         before.updated_at)

    update_channel(tenant=acme, channel=channel, kind="email", url="", email_to="ops@acme.test", enabled=False)
    stored = NotificationChannel.objects.for_tenant(acme).get()
    assert (stored.kind, stored.url, stored.email_to, stored.enabled) == ("email", "", "ops@acme.test", False)
    assert stored.secret == ""  # nothing left signing with it, and nobody could see it


def test_a_channel_is_changed_and_removed_only_by_its_tenant(acme, globex):
    channel = create_channel(tenant=acme, name="hook", kind="webhook", url="https://hooks.example.com/x")
    with pytest.raises(ValueError):
        update_channel(tenant=globex, channel=channel, name="taken")
    with pytest.raises(ValueError):
        delete_channel(tenant=globex, channel=channel)
    assert NotificationChannel.objects.for_tenant(acme).get().name == "hook"


def test_removing_a_channel_removes_its_notifications(acme):
    channel = create_channel(tenant=acme, name="hook", kind="webhook", url="http://127.0.0.1:9/x")
    send_test_notification(channel)
    assert Notification.objects.for_tenant(acme).filter(channel=channel).count() == 1
    delete_channel(tenant=acme, channel=channel)
    assert not NotificationChannel.all_tenants.exists() and not Notification.all_tenants.exists()
