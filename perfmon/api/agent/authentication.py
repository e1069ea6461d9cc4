"""Agent credential authentication for the agent API (/agent-api/).

Stream posts (series, logs) are most of the agent API's traffic, so they find
the agent and the run they write to with one query
(``perfmon.runs.ingest.stream_target``) instead of one for each; every other
call loads the agent itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from rest_framework import authentication, exceptions

from perfmon.fleet.enrollment import authenticate_agent
from perfmon.fleet.models import Agent
from perfmon.runs.ingest import StreamTarget, stream_target


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


@dataclass(frozen=True)
class StreamPrincipal:
    """request.user on a stream post: the agent (by id) and the run or part the post writes to."""

    target: StreamTarget
    is_authenticated = True
    is_anonymous = False

    @property
    def agent_id(self) -> str:
        return self.target.agent_id


class StreamCredentialAuthentication(AgentCredentialAuthentication):
    """The agent credential of a stream post, checked in the query that finds its run.

    When that query finds nothing (a bad credential, or a run not assigned to
    this agent) the agent is authenticated on its own, so a bad credential is
    still 401 and someone else's run 404 (the view looks it up again and fails).
    """

    def authenticate(self, request):
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer":
            target_id = (request.parser_context or {}).get("kwargs", {}).get("run_id")
            target = stream_target(value.strip(), target_id)
            if target is not None:
                return StreamPrincipal(target=target), None
        return super().authenticate(request)
