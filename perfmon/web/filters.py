"""The list pages' filters: GET parameters read into querysets, bounded, and never a 500.

Each reader takes the request's GET and answers a ``Filters``: the values it
applied (for the form to show), the messages of those it ignored (an unknown
status, a date that is not one), and the query string that keeps them across
pages. Filtering narrows the page's one list query; it adds none.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from urllib.parse import urlencode

from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from perfmon.definitions.models import Tool
from perfmon.runs.models import RunPart, RunStatus

FIRST_DAY, LAST_DAY = date(1970, 1, 1), date(9998, 12, 31)  # the dates a range may name
MAX_TEXT = 100  # the longest search or id a filter reads; longer input is cut
NEVER = "never"  # the monitors' "last status" for a monitor that has not run yet
MONITOR_STATUSES = (*RunStatus.final(), NEVER)
RUN_STATUSES = tuple(RunStatus.values)


@dataclass
class Filters:
    """What a list page filters by: the applied values, why others were ignored, the query string."""

    values: dict = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    @property
    def query(self) -> str:
        """The applied filters as a query string (for the pagination links), "" when none."""
        return urlencode({key: value for key, value in self.values.items() if value})

    @property
    def active(self) -> bool:
        return any(self.values.values())


def _text(params, name: str) -> str:
    # PostgreSQL's text cannot hold NUL: a query holding one would fail, so it is dropped here.
    return str(params.get(name, "") or "").replace("\x00", "").strip()[:MAX_TEXT]


def _choice(params, name: str, choices, filters: Filters, what: str) -> str:
    value = _text(params, name)
    if value and value not in choices:
        filters.errors.append(f"Unknown {what} “{value}”: not filtered by it.")
        return ""
    return value


def _date(params, name: str, filters: Filters, what: str) -> date | None:
    value = _text(params, name)
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        filters.errors.append(f"The {what} date “{value}” is not a date (YYYY-MM-DD): not filtered by it.")
        return None
    if not FIRST_DAY <= day <= LAST_DAY:  # far years overflow a day added or a time zone applied
        filters.errors.append(f"The {what} date “{value}” is out of range: not filtered by it.")
        return None
    return day


def monitor_filters(params, queryset):
    """(the monitors of ``queryset`` that match ``params``, the Filters read).

    ``status`` is the last run's status (``never`` for monitors not run
    yet), ``tool`` the test's tool, ``agent`` the pinned agent's id,
    ``location`` the location a monitor targets (itself or through its
    pinned agent), ``q`` part of the name, in any case.
    """
    filters = Filters()
    status = _choice(params, "status", MONITOR_STATUSES, filters, "status")
    agent, location = _text(params, "agent"), _text(params, "location")
    if status:
        queryset = queryset.filter(last_status="" if status == NEVER else status)
    queryset, tool, search = _tool_and_name(params, queryset, filters, tool_field="test__tool", name_field="name")
    if agent:
        queryset = queryset.filter(agent_id=agent)
    if location:
        queryset = queryset.filter(Q(location=location) | Q(agent__location=location))
    filters.values = {"status": status, "tool": tool, "agent": agent, "location": location, "q": search}
    return queryset, filters


def _tool_and_name(params, queryset, filters: Filters, *, tool_field: str, name_field: str):
    """(``queryset`` narrowed to ``tool`` and to names holding ``q``, the tool read, the search read).

    The monitors list searches the monitor's own name and tool, the runs
    list a run's tool and its monitor's name: the same reading, other fields.
    """
    tool = _choice(params, "tool", Tool.values, filters, "tool")
    search = _text(params, "q")
    if tool:
        queryset = queryset.filter(**{tool_field: tool})
    if search:
        queryset = queryset.filter(**{f"{name_field}__icontains": search})
    return queryset, tool, search


def run_filters(params, queryset):
    """(the runs of ``queryset`` that match ``params``, the Filters read).

    ``status`` is the run's, ``agent`` an agent that ran it (or one of its
    parts), ``location`` where it ran (its agent's, or a part's),
    ``from``/``to`` the days it was requested on, inclusive, in the site's
    time zone. A range whose end comes before its start is refused whole.
    """
    filters = Filters()
    status = _choice(params, "status", RUN_STATUSES, filters, "status")
    agent, location = _text(params, "agent"), _text(params, "location")
    since, until = _date(params, "from", filters, "from"), _date(params, "to", filters, "to")
    if since and until and until < since:
        filters.errors.append("The date range ends before it starts: not filtered by it.")
        since = until = None
    if status:
        queryset = queryset.filter(status=status)
    parts = RunPart.all_tenants.filter(run_id=OuterRef("pk"))
    if agent:
        queryset = queryset.filter(Q(agent_id=agent) | Exists(parts.filter(agent_id=agent)))
    if location:
        queryset = queryset.filter(Q(agent__location=location) | Exists(parts.filter(location=location)))
    zone = timezone.get_current_timezone()
    if since:
        queryset = queryset.filter(created_at__gte=datetime.combine(since, time.min, zone))
    if until:
        queryset = queryset.filter(created_at__lt=datetime.combine(until + timedelta(days=1), time.min, zone))
    filters.values = {"status": status, "agent": agent, "location": location,
                      "from": since.isoformat() if since else "", "to": until.isoformat() if until else ""}
    return queryset, filters


def tenant_run_filters(params, queryset):
    """(the runs of ``queryset`` that match ``params``, the Filters read): the tenant's runs list.

    A monitor's run filters (run_filters) and, as on the monitors list,
    ``tool`` (the run's own: the tool it ran with) and ``q``, part of its
    monitor's name in any case (a run whose monitor was deleted has none,
    so a search leaves it out).
    """
    queryset, filters = run_filters(params, queryset)
    queryset, tool, search = _tool_and_name(params, queryset, filters, tool_field="tool",
                                            name_field="monitor__name")
    filters.values = {"q": search, **filters.values, "tool": tool}
    return queryset, filters
