"""Agent credential authentication for the agent API (/agent-api/)."""

from __future__ import annotations

from dataclasses import dataclass

from rest_framework import authentication, exceptions

from perfmon.fleet.enrollment import authenticate_agent
from perfmon.fleet.models import Agent


@dataclass(frozen=True)
class AgentPrincipal:
    """request.user on the agent API: the agent itself, never a tenant user."""

    agent: Agent
    is_authenticated = True
    is_anonymous = False


class AgentCredentialAuthentication(authentication.BaseAuthentication):
    """``Authorization: Bearer pma_…``. Tenant keys and OIDC tokens are not agent credentials."""

    def authenticate(self, request):
        header = request.headers.get("Authorization", "")
        if not header:
            return None
        scheme, _, value = header.partition(" ")
        agent = authenticate_agent(value.strip()) if scheme.lower() == "bearer" else None
        if agent is None:
            raise exceptions.AuthenticationFailed("Invalid agent credential")
        return AgentPrincipal(agent=agent), None

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="perfmon-agent"'
