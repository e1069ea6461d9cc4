"""Agent credentials: trading a one-time enrollment token for an agent credential, and
authenticating that credential on the agent API."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils import timezone

from perfmon.core import credentials
from perfmon.core.errors import Conflict, PerfmonError
from perfmon.fleet.models import Agent

ENROLLMENT_KIND = "pme"
CREDENTIAL_KIND = "pma"
FACT_FIELDS = ("hostname", "ip_address", "os", "arch", "cpu_cores", "memory_gb", "version", "tools", "capacity")


class EnrollmentRefused(PerfmonError):
    code = "unauthorized"
    status = 401


def enroll(*, token: str, agent_id: str | None = None, name: str = "", location: str = "",
           facts: dict | None = None) -> tuple[Agent, str]:
    """The enrolled agent and its new credential (returned once, stored as a digest).

    The enrollment token works once and until it expires. Raises
    EnrollmentRefused for an unknown, used or expired token and Conflict when
    ``agent_id`` names another agent than the token's, or the host already has
    an agent of the same tenant.
    """
    lookup = credentials.lookup_of(token or "", ENROLLMENT_KIND)
    if lookup is None:
        raise EnrollmentRefused("not an enrollment token (expected pme_…)")
    with transaction.atomic():
        agent = Agent.all_tenants.select_for_update().filter(enrollment_lookup=lookup).first()
        if agent is None or not credentials.matches(token, agent.enrollment_hash):
            raise EnrollmentRefused("unknown or already used enrollment token")
        if agent.enrollment_expires_at is None or agent.enrollment_expires_at <= timezone.now():
            raise EnrollmentRefused("this enrollment token has expired; ask the operator for a new one")
        if agent_id and agent_id != agent.pk:
            raise Conflict(f"this enrollment token belongs to agent '{agent.pk}', not '{agent_id}'")
        secret = credentials.issue(CREDENTIAL_KIND)
        agent.credential_lookup, agent.credential_hash = secret.lookup, secret.digest
        agent.enrollment_lookup = agent.enrollment_hash = ""
        agent.enrollment_expires_at = None
        agent.enrolled_at = timezone.now()
        if name:
            agent.name = name
        if location:
            agent.location = location
        for field, value in (facts or {}).items():
            if field in FACT_FIELDS and value is not None:
                setattr(agent, field, value)
        try:
            with transaction.atomic():
                agent.save()
        except IntegrityError:
            # agent_unique_hostname_per_tenant: one host runs one agent per tenant.
            raise Conflict(f"the hostname '{agent.hostname}' already has an agent of this tenant; "
                           "enroll this one with another tenant or as a shared agent") from None
    return agent, secret.value


def authenticate_agent(value: str) -> Agent | None:
    """The agent whose credential ``value`` is, or None."""
    lookup = credentials.lookup_of(value, CREDENTIAL_KIND)
    if lookup is None:
        return None
    agent = Agent.all_tenants.filter(credential_lookup=lookup).first()
    if agent is None or not credentials.matches(value, agent.credential_hash):
        return None
    return agent
