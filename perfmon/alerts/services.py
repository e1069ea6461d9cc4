"""Writes made by people: acknowledging an alert; adding, changing and removing notification channels."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator, validate_email
from django.db import transaction
from django.utils import timezone

from perfmon.alerts.models import Alert, AlertState, ChannelKind, NotificationChannel
from perfmon.core.errors import Conflict, ValidationFailed

MAX_NOTE_LENGTH = 2000


def acknowledge_alert(*, tenant, alert: Alert, note: str = "", actor: str = "", user=None) -> Alert:
    """Mark ``alert`` acknowledged by ``actor`` (and ``user`` when a person is signed in) with ``note``.

    Acknowledging again keeps the first acknowledgement's time and author and
    replaces the note. Raises Conflict when the alert is already resolved.
    """
    if alert.tenant_id != tenant.pk:
        raise ValueError("the alert belongs to another tenant")
    with transaction.atomic():
        # Locked so a run resolving the alert at the same moment is seen, not overwritten.
        current = Alert.objects.for_tenant(tenant).select_for_update().get(pk=alert.pk)
        if current.state == AlertState.RESOLVED:
            raise Conflict(f"alert {current.pk} is already resolved")
        fields = ["note", "updated_at"]
        current.note = note or ""
        if current.acknowledged_at is None:
            current.acknowledged_at = timezone.now()
            current.acknowledged_by = user
            current.acknowledged_by_label = (actor or (user.get_username() if user else ""))[:200]
            fields += ["acknowledged_at", "acknowledged_by", "acknowledged_by_label"]
        if current.state != AlertState.ACKNOWLEDGED:
            current.state = AlertState.ACKNOWLEDGED
            fields.append("state")
        current.save(update_fields=fields)
    return current


# --- notification channels ---------------------------------------------------

CHANNEL_FIELDS = ("name", "kind", "url", "secret", "email_to", "enabled")
# The configuration each kind is delivered with (perfmon/alerts/channels.py); the others stay empty.
_CONFIG = {
    ChannelKind.WEBHOOK: ("url", "secret"),
    ChannelKind.SLACK: ("url",),
    ChannelKind.EMAIL: ("email_to",),
}
_LIMITS = {field.name: field.max_length for field in NotificationChannel._meta.fields if field.max_length}
_url = URLValidator(schemes=["http", "https"])


def _check_text(values: dict, errors: dict) -> None:
    for name in ("name", "url", "secret", "email_to"):
        value = values[name]
        if not isinstance(value, str):
            errors[name] = ["Must be text."]
        elif len(value) > _LIMITS[name]:
            errors[name] = [f"At most {_LIMITS[name]} characters."]
        elif "\x00" in value:
            errors[name] = ["Null characters are not allowed."]


def _validated_channel(values: dict) -> dict:
    """``values`` (every CHANNEL_FIELDS entry) normalised, or ValidationFailed naming each bad field."""
    errors: dict[str, list[str]] = {}
    _check_text(values, errors)
    if errors:
        raise ValidationFailed.of(errors)
    values = {**values, "name": values["name"].strip(), "url": values["url"].strip()}
    if not values["name"]:
        errors["name"] = ["A channel needs a name."]
    if not isinstance(values["enabled"], bool):
        errors["enabled"] = ["Must be true or false."]
    kind = values["kind"]
    if kind not in ChannelKind.values:
        errors["kind"] = [f"Must be one of {', '.join(ChannelKind.values)}."]
        raise ValidationFailed.of(errors)
    uses = _CONFIG[ChannelKind(kind)]
    label = ChannelKind(kind).label
    if "url" in uses:
        if not values["url"]:
            errors["url"] = [f"A {kind} channel needs the URL it posts to."]
        else:
            try:
                _url(values["url"])
            except ValidationError:
                errors["url"] = ["Enter an http:// or https:// URL."]
    elif values["url"]:
        errors["url"] = [f"Not used by {label} channels; leave it empty."]
    addresses = [address.strip() for address in values["email_to"].split(",") if address.strip()]
    if "email_to" in uses:
        bad = []
        for address in addresses:
            try:
                validate_email(address)
            except ValidationError:
                bad.append(address)
        if not addresses:
            errors["email_to"] = ["An e-mail channel needs at least one address."]
        elif bad:
            errors["email_to"] = [f"Not an e-mail address: {', '.join(bad)}."]
        values["email_to"] = ", ".join(addresses)
    elif addresses:
        errors["email_to"] = [f"Not used by {label} channels; leave it empty."]
    if "secret" not in uses:
        # Only webhook bodies are signed; a secret kept from an earlier kind would sit unused (and unseen).
        values["secret"] = ""
    if errors:
        raise ValidationFailed.of(errors)
    return values


def create_channel(*, tenant, name: str, kind: str, url: str = "", secret: str = "", email_to: str = "",
                   enabled: bool = True) -> NotificationChannel:
    """A new channel of ``tenant``. Webhook and Slack channels need an http(s) ``url`` (webhooks may
    have a signing ``secret``, stored as given because it has to be usable); e-mail channels need
    ``email_to``, comma-separated addresses. Raises ValidationFailed naming each bad field."""
    values = _validated_channel({"name": name, "kind": kind, "url": url, "secret": secret, "email_to": email_to,
                                 "enabled": enabled})
    return NotificationChannel.objects.create(tenant=tenant, **values)


def update_channel(*, tenant, channel: NotificationChannel, **changes) -> NotificationChannel:
    """Change ``channel`` (of ``tenant``): any of CHANNEL_FIELDS, checked together with what is kept
    as create_channel checks them. A channel's tenant never changes. Raises ValidationFailed."""
    if channel.tenant_id != tenant.pk:
        raise ValueError("the channel belongs to another tenant")
    unknown = sorted(set(changes) - set(CHANNEL_FIELDS))
    if unknown:
        raise ValidationFailed.of({name: ["Unknown field."] for name in unknown})
    stored = {name: getattr(channel, name) for name in CHANNEL_FIELDS}
    values = _validated_channel({**stored, **changes})
    channel.save_changes({name: values[name] for name in CHANNEL_FIELDS})
    return channel


def delete_channel(*, tenant, channel: NotificationChannel) -> None:
    """Remove ``channel`` of ``tenant`` with its notifications and their delivery history."""
    if channel.tenant_id != tenant.pk:
        raise ValueError("the channel belongs to another tenant")
    channel.delete()
