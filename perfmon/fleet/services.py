"""Every write to agents: creation, enrollment tokens, draining."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from perfmon.core import credentials
from perfmon.core.errors import Conflict, ValidationFailed
from perfmon.fleet.models import Agent, agent_id_validator

ENROLLMENT_KIND = "pme"
CREDENTIAL_KIND = "pma"


@dataclass(frozen=True)
class NewAgent:
    agent: Agent
    enrollment_token: str  # shown once, never stored


def _new_enrollment(agent: Agent) -> str:
    secret = credentials.issue(ENROLLMENT_KIND)
    agent.enrollment_lookup = secret.lookup
    agent.enrollment_hash = secret.digest
    agent.enrollment_expires_at = timezone.now() + timedelta(seconds=settings.PERFMON_ENROLLMENT_TOKEN_TTL)
    return secret.value


def create_agent(*, agent_id: str, location: str = "", tenant=None, name: str = "", **facts) -> NewAgent:
    """A new agent with a one-time enrollment token; ``tenant=None`` makes it shared.

    Raises ValidationFailed for a malformed id, Conflict when the id (or the
    hostname within the tenant) is taken.
    """
    try:
        agent_id_validator(agent_id)
    except ValidationError as exc:
        raise ValidationFailed(exc.messages[0], details={"id": exc.messages}) from None
    agent = Agent(id=agent_id, tenant=tenant, location=location, name=name or agent_id, **facts)
    token = _new_enrollment(agent)
    try:
        with transaction.atomic():
            if Agent.all_tenants.filter(pk=agent_id).exists():
                raise Conflict(f"an agent with id '{agent_id}' already exists")
            agent.save(force_insert=True)
    except IntegrityError:
        raise Conflict(f"the hostname '{agent.hostname}' is already registered") from None
    return NewAgent(agent=agent, enrollment_token=token)


def reissue_enrollment_token(*, agent: Agent) -> str:
    """A fresh one-time enrollment token for an existing agent (the old one stops working)."""
    token = _new_enrollment(agent)
    agent.save(update_fields=["enrollment_lookup", "enrollment_hash", "enrollment_expires_at", "updated_at"])
    return token


def set_drained(*, agent: Agent, drained: bool) -> Agent:
    """A drained agent finishes what it runs and takes nothing new."""
    agent.drained = drained
    agent.save(update_fields=["drained", "updated_at"])
    return agent


OPERATOR_FIELDS = ("name", "location", "capacity", "drained")


def update_agent(*, agent: Agent, **changes) -> Agent:
    """Change what operators decide about an agent: ``name, location, capacity, drained``.

    Its host facts, tools and version are the agent's own report and change
    only through enrollment. Raises ValidationFailed for other fields or
    invalid values.
    """
    unknown = sorted(set(changes) - set(OPERATOR_FIELDS))
    if unknown:
        raise ValidationFailed(f"unknown field: {unknown[0]}", details={name: ["Unknown field."] for name in unknown})
    capacity = changes.get("capacity", agent.capacity)
    if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
        message = "An agent runs at least 1 run at a time."
        raise ValidationFailed(f"capacity: {message}", details={"capacity": [message]})
    for name in ("name", "location"):
        if name in changes:
            changes[name] = (changes[name] or "").strip()
    for name, value in changes.items():
        setattr(agent, name, value)
    if changes:
        agent.save(update_fields=[*changes, "updated_at"])
    return agent


# --- machines: agents registered by hand (/api/v1/machines) ------------------

MACHINE_FACTS = ("hostname", "ip_address", "os", "arch", "cpu_cores", "memory_gb")


def machine_id_for(name: str, hostname: str = "") -> str:
    """The agent id a registered machine gets: a slug of its name (else its hostname).

    Lowercase letters, digits and dashes, at most 63 characters, starting
    with a letter or digit; ``machine`` when nothing usable is left. The id
    must be unique across all tenants (it names the agent's queue), so
    :func:`register_machine` appends ``-2``, ``-3``, ... when it is taken.
    """
    from django.utils.text import slugify

    base = slugify((name or "").replace(".", "-").replace("_", "-"))
    if not base:
        base = slugify((hostname or "").replace(".", "-").replace("_", "-"))
    base = base.strip("-")[:55].strip("-") or "machine"
    return base


def register_machine(*, tenant, name: str, hostname: str, location: str = "", **facts) -> NewAgent:
    """Register a machine of ``tenant``: an agent with host facts and a one-time enrollment token.

    ``facts`` are among ip_address, os, arch, cpu_cores, memory_gb. The agent id
    comes from :func:`machine_id_for`. Raises Conflict when ``hostname`` is
    already registered in the tenant, ValidationFailed for a blank hostname.
    """
    unknown = set(facts) - set(MACHINE_FACTS)
    if unknown:
        raise ValueError(f"unknown machine facts: {sorted(unknown)}")
    hostname = (hostname or "").strip()
    if not hostname:
        blank = "This field may not be blank."
        raise ValidationFailed(f"hostname: {blank}", details={"hostname": [blank]})
    if Agent.objects.for_tenant(tenant, include_shared=False).filter(hostname=hostname).exists():
        raise Conflict(f"the hostname '{hostname}' is already registered")
    base = machine_id_for(name, hostname)
    for attempt in range(1, 50):
        candidate = base if attempt == 1 else f"{base}-{attempt}"
        if Agent.all_tenants.filter(pk=candidate).exists():
            continue
        try:
            return create_agent(
                agent_id=candidate, location=location, tenant=tenant, name=name or hostname,
                hostname=hostname, **facts,
            )
        except Conflict:
            # Another registration took this id (or this hostname) meanwhile.
            if Agent.objects.for_tenant(tenant, include_shared=False).filter(hostname=hostname).exists():
                raise
    raise Conflict(f"no free agent id left for '{base}'; choose another name")
