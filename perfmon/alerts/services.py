"""Writes to alerts made by people: acknowledging one."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from perfmon.alerts.models import Alert, AlertState
from perfmon.core.errors import Conflict

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
