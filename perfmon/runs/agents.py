"""What runs need of agents: which agent takes a run, which runs an agent must stop,
how many runs it took, and removing an agent that may still be running some.

These read or guard runs, so they live here rather than in fleet, which knows
nothing of runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from django.db import transaction
from django.db.models import Count, Q

from perfmon.core.errors import NotFound
from perfmon.fleet.models import Agent
from perfmon.fleet.selectors import online_horizon
from perfmon.fleet.services import set_drained
from perfmon.runs.models import PartStatus, Run, RunPart, RunStatus
from runners.validation import distribution_slots


class AgentPool:
    """Online agents and their load, read once per tenant and kept current as runs are assigned.

    The scheduler tick assigns hundreds of runs per transaction; reading the
    candidates once per tenant instead of once per run is what lets one tick
    keep up with thousands of monitors.
    """

    def __init__(self) -> None:
        self._live: dict = {}

    def _agents(self, tenant) -> list[Agent]:
        if tenant.pk not in self._live:
            self._live[tenant.pk] = list(
                Agent.objects.for_tenant(tenant)
                .filter(last_heartbeat_at__gte=online_horizon())
                .annotate(
                    whole_runs=Count("runs", filter=Q(runs__status__in=RunStatus.active()), distinct=True),
                    active_parts=Count("run_parts", filter=Q(run_parts__status__in=PartStatus.active()),
                                       distinct=True),
                )
                .order_by("id")
            )
            for agent in self._live[tenant.pk]:
                agent.active_runs = agent.whole_runs + agent.active_parts
        return self._live[tenant.pk]

    def choose(self, *, tenant, tool: str, pinned=None, location: str = "") -> tuple[Agent | None, str]:
        """The agent a run of ``tool`` should go to, or (None, the reason in words).

        The monitor's pinned agent, else an online agent of its location,
        else an online agent of the tenant, then a shared one; each must be
        in service (not drained) and have the tool. Among those, agents with
        free capacity come first, least busy first; when all are busy the run
        waits in the least busy one's queue (agents take one run per free slot).
        """
        live = self._agents(tenant)
        if pinned is not None:
            groups, where = [[a for a in live if a.pk == pinned.pk]], f"pinned agent '{pinned.pk}'"
        elif location:
            groups, where = [[a for a in live if a.location == location]], f"location '{location}'"
        else:
            groups = [[a for a in live if a.tenant_id == tenant.pk], [a for a in live if a.tenant_id is None]]
            where = "this tenant's or the shared agents"

        seen_online = seen_in_service = False
        for group in groups:
            seen_online = seen_online or bool(group)
            in_service = [agent for agent in group if not agent.drained]
            seen_in_service = seen_in_service or bool(in_service)
            candidates = sorted((a for a in in_service if tool in (a.tools or {})), key=lambda a: a.active_runs)
            if candidates:
                free = [agent for agent in candidates if agent.active_runs < agent.capacity]
                chosen = (free or candidates)[0]
                chosen.active_runs += 1
                return chosen, ""
        if not seen_online:
            return None, f"no agent available: no online agent among {where}"
        if not seen_in_service:
            return None, f"no agent available: every online agent among {where} is drained"
        return None, f"no agent available: no online agent among {where} has {tool} installed"


    def place(self, *, tenant, tool: str, distribution: dict, location: str = "",
              pinned=None) -> tuple[list[tuple[Agent, str, Fraction]], str]:
        """Distinct agents for every part of a split run: ([(agent, location, share), ...], "") or ([], why).

        ``{"agents": N}`` takes N distinct agents among the monitor's location (or the
        tenant's, then the shared agents); ``{"locations": ...}`` takes each location's
        agents from that location. Agents must be online, in service and have the tool;
        free capacity first, least busy first. All or nothing: when some part finds no
        agent, none is reserved.
        """
        if pinned is not None:
            return [], "no agents available: a run pinned to one agent cannot be split over several"
        live = [a for a in self._agents(tenant) if not a.drained and tool in (a.tools or {})]
        chosen: list[tuple[Agent, str, Fraction]] = []
        taken: set[str] = set()
        slots = distribution_slots(distribution)
        for slot_location, share in slots:
            where = slot_location or location
            if where:
                groups = [[a for a in live if a.location == where]]
            else:
                groups = [[a for a in live if a.tenant_id == tenant.pk], [a for a in live if a.tenant_id is None]]
            candidates = [a for group in groups for a in sorted(group, key=lambda a: a.active_runs)
                          if a.pk not in taken]
            free = [a for a in candidates if a.active_runs < a.capacity]
            pick = (free or candidates)[:1]
            if not pick:
                wanted = sum(1 for s_loc, _ in slots if (s_loc or location) == where)
                scope = f"location '{where}'" if where else "this tenant's and the shared agents"
                found = len([a for g in groups for a in g])
                return [], (f"no agents available: the split needs {wanted} online agent(s) with {tool} among "
                            f"{scope}, and {'only ' if found else ''}{found} {'is' if found == 1 else 'are'}")
            taken.add(pick[0].pk)
            chosen.append((pick[0], where, share))
        for agent, _, _ in chosen:
            agent.active_runs += 1
        return chosen, ""


def runs_to_stop(agent: Agent, running_runs: list[str]) -> list[str]:
    """The ids of the agent's runs it must stop now (the answer to its heartbeat).

    Those are the runs a user asked to cancel, and runs the agent says it is
    running that are already final here (expired, or judged while the agent
    was cut off).
    """
    cancel = Run.all_tenants.filter(agent=agent).filter(
        Q(status__in=RunStatus.active(), cancel_requested_at__isnull=False)
        | Q(pk__in=running_runs, status__in=RunStatus.final())
    )
    # A part stops when its run is cancelled or has ended (another part failed or was lost),
    # or when the part itself is already final here.
    parts = RunPart.all_tenants.filter(agent=agent).filter(
        Q(status__in=PartStatus.active(), run__cancel_requested_at__isnull=False)
        | Q(status__in=PartStatus.active(), run__status__in=RunStatus.final())
        | Q(pk__in=running_runs, status__in=PartStatus.final())
    )
    return [str(run_id) for run_id in cancel.values_list("pk", flat=True)] + [
        str(part_id) for part_id in parts.values_list("pk", flat=True)]


def run_counts(tenant, agent: Agent, *, since) -> dict[str, int]:
    """How many of the tenant's runs the agent took since ``since``, by status (only statuses seen).

    A split run counts for every agent that ran one of its parts.
    """
    rows = (
        Run.objects.for_tenant(tenant).filter(Q(agent=agent) | Q(parts__agent=agent), created_at__gte=since)
        .values("status").annotate(n=Count("id", distinct=True)).order_by()
    )
    return {row["status"]: row["n"] for row in rows}


@dataclass(frozen=True)
class MachineRemoval:
    deleted: bool  # False: the machine had active runs and was drained instead
    active_runs: int


def delete_machine(*, tenant, agent_id: str) -> MachineRemoval:
    """Remove ``tenant``'s own agent, or drain it first when it has queued or running runs.

    An idle agent is deleted at once: its credentials stop working and its
    runs stay in the history (their ``agent`` becomes NULL). An agent with
    active runs is drained instead (it takes no new runs and finishes the
    ones it has); a later call, once it is idle, deletes it. Shared agents
    and other tenants' agents raise NotFound.
    """
    with transaction.atomic():
        agent = (
            Agent.objects.for_tenant(tenant, include_shared=False).select_for_update().filter(pk=agent_id).first()
        )
        if agent is None:
            raise NotFound(f"Machine {agent_id} does not exist")
        active = (Run.objects.for_tenant(tenant).filter(agent=agent, status__in=RunStatus.active()).count()
                  + RunPart.all_tenants.filter(agent=agent, status__in=PartStatus.active()).count())
        if active:
            if not agent.drained:
                set_drained(agent=agent, drained=True)
            return MachineRemoval(deleted=False, active_runs=active)
        Agent.objects.for_tenant(tenant, include_shared=False).filter(pk=agent.pk).delete()
    return MachineRemoval(deleted=True, active_runs=0)
