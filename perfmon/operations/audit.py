"""The audit log: who created, changed or deleted monitors, tests, API keys, licenses and channels.

Recorded from model signals, so every write path (the APIs, the admin, the
dashboard, commands) is covered without each service remembering to log.
The actor comes from the request being served: AuditActorMiddleware keeps the
request in a context variable, and by the time a view writes, the request's
user is set (Django's session user, or the API's Principal, which DRF copies
onto the Django request). Outside a request (commands, tasks) the actor is
"system". Bookkeeping fields (timestamps, next run, last used) are not
changes; secret fields are recorded as "(changed)", never their values.
"""

from __future__ import annotations

import contextvars
import hashlib
import logging

from django.db.models.signals import post_delete, post_save, pre_save

from perfmon.operations.models import AuditAction, AuditEntry

log = logging.getLogger(__name__)

_request: contextvars.ContextVar = contextvars.ContextVar("perfmon_audit_request", default=None)

# Fields that change by themselves, not by someone's decision.
IGNORED = {"created_at", "updated_at", "next_run_at", "last_run_at", "last_status", "last_used_at"}
# A channel's url is one: a Slack incoming webhook URL is the channel's credential.
SECRET = {"key_hash", "secret", "token", "script", "url"}


class AuditActorMiddleware:
    """Makes the current request visible to the audit signal handlers."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        token = _request.set(request)
        try:
            return self.get_response(request)
        finally:
            _request.reset(token)


def current_actor() -> str:
    request = _request.get()
    user = getattr(request, "user", None) if request is not None else None
    if user is None or not getattr(user, "is_authenticated", False):
        return "system" if request is None else "anonymous"
    actor = getattr(user, "actor", None)  # the API's Principal
    if actor:
        return str(actor)
    return f"user:{user.get_username()}"


def _audited():
    from perfmon.alerts.models import NotificationChannel
    from perfmon.definitions.models import TestDefinition
    from perfmon.monitors.models import Monitor
    from perfmon.operations.models import TenantSettings
    from perfmon.tenants.models import ApiKey, License

    return {Monitor: "monitor", TestDefinition: "test", ApiKey: "api key", License: "license",
            NotificationChannel: "channel", TenantSettings: "tenant settings"}


def _values(instance, *, compare: bool = False) -> dict:
    """The audited fields' values; a secret is "(set)"/"" (or its digest when ``compare``, to see a change)."""
    values = {}
    for field in instance._meta.concrete_fields:
        if field.name in IGNORED or field.primary_key:
            continue
        value = field.value_from_object(instance)
        if field.name in SECRET:
            if compare:
                value = hashlib.sha256(str(value).encode()).hexdigest() if value else ""
            else:
                value = "(set)" if value else ""
        elif not isinstance(value, str | int | float | bool | dict | list | type(None)):
            value = str(value)
        values[field.attname if field.is_relation else field.name] = value
    return values


def _tenant_id(instance):
    return getattr(instance, "tenant_id", None)


def _record(instance, action: str, changes: dict) -> None:
    AuditEntry.all_tenants.create(
        tenant_id=_tenant_id(instance), actor=current_actor()[:200], action=action,
        object_type=_audited()[type(instance)], object_id=str(instance.pk)[:64],
        object_repr=str(instance)[:300], changes=changes,
    )


def _before(sender, instance, raw=False, update_fields=None, **kwargs) -> None:
    if raw or instance._state.adding:
        instance._audit_before = None
        return
    if update_fields is not None and set(update_fields) <= IGNORED:
        instance._audit_before = None
        return
    old = type(instance).all_tenants.filter(pk=instance.pk).first() if hasattr(type(instance), "all_tenants") \
        else type(instance)._default_manager.filter(pk=instance.pk).first()
    instance._audit_before = _values(old, compare=True) if old is not None else None


def _after(sender, instance, created=False, raw=False, update_fields=None, **kwargs) -> None:
    if raw:
        return
    if created:
        _record(instance, AuditAction.CREATED, _values(instance))
        return
    before = getattr(instance, "_audit_before", None)
    if before is None:
        return
    after = _values(instance, compare=True)
    changes = {}
    for name, new in after.items():
        old = before.get(name)
        if old != new:
            changes[name] = "(changed)" if name in SECRET else [old, new]
    if changes:
        _record(instance, AuditAction.UPDATED, changes)


def _deleted(sender, instance, **kwargs) -> None:
    _record(instance, AuditAction.DELETED, {})


def connect() -> None:
    """Connect the handlers to every audited model (called once, from the app's ready())."""
    for model in _audited():
        uid = f"perfmon-audit-{model._meta.label}"
        pre_save.connect(_before, sender=model, dispatch_uid=f"{uid}-pre")
        post_save.connect(_after, sender=model, dispatch_uid=f"{uid}-post")
        post_delete.connect(_deleted, sender=model, dispatch_uid=f"{uid}-del")
