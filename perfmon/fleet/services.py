"""Every write to agents: creation, enrollment tokens, draining."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from perfmon.core import credentials
from perfmon.core.errors import Conflict, NotFound, ValidationFailed
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


def agent_for_tenant(tenant, agent_id: str) -> Agent:
    """The tenant's own or a shared agent. Raises NotFound."""
    try:
        return Agent.objects.for_tenant(tenant).get(pk=agent_id)
    except Agent.DoesNotExist:
        raise NotFound(f"agent '{agent_id}' does not exist") from None
