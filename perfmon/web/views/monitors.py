"""Monitors: the list (the dashboard's home), detail with trends, create, edit, delete, run now, pin a baseline."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from perfmon.core.errors import Conflict, LicenseLimitReached, NotFound, ValidationFailed
from perfmon.core.ids import as_uuid
from perfmon.definitions.models import Tool
from perfmon.fleet.selectors import agents_for_tenant, known_locations
from perfmon.monitors import schedule as cron
from perfmon.monitors.selectors import monitor_for_tenant, monitors_for_tenant
from perfmon.monitors.services import create_monitor, delete_monitor, update_monitor
from perfmon.runs.models import RunTrigger
from perfmon.runs.selectors import runs_of_monitor
from perfmon.runs.services import request_run, set_baseline
from perfmon.web import filters, queries
from perfmon.web.forms import MonitorForm
from perfmon.web.tenancy import tenant_view

MONITORS_PER_PAGE = 50
RUNS_PER_PAGE = 25
# What a run list leaves unread: the agent's host metrics and the run's per-request breakdown
# (up to 300 names of 20 causes each; the list shows figures, not payloads).
LIST_DEFERRED = ("agent__last_metrics", "requests", "checks")
# The highlight.js grammar of each tool's scripts (perfmon/web/static/perfmon/web/script-view.js
# registers exactly these): JMeter's .jmx is XML, Artillery's YAML, Gatling's simulations Scala,
# and a custom tool's command a shell line.
SCRIPT_LANGUAGES = {
    Tool.K6: "javascript", Tool.LOCUST: "python", Tool.JMETER: "xml",
    Tool.ARTILLERY: "yaml", Tool.GATLING: "scala", Tool.CUSTOM: "bash",
}
# Longer scripts are shown as plain text: highlighting a megabyte of .jmx would stall the page.
HIGHLIGHT_MAX_CHARS = 200_000


@tenant_view()
def monitor_list(request, viewer):
    monitors, chosen = filters.monitor_filters(request.GET, monitors_for_tenant(viewer.tenant))
    page = Paginator(monitors, MONITORS_PER_PAGE).get_page(request.GET.get("page"))
    monitors = list(page.object_list)
    ids = [monitor.pk for monitor in monitors]
    sparks = queries.p95_sparklines(viewer.tenant, ids)
    alerts = queries.open_alert_counts(viewer.tenant, ids)
    active = queries.active_runs(viewer.tenant, ids)
    rows = [
        {"monitor": m, "schedule_words": cron.describe(m.schedule), "p95": sparks.get(m.pk, []),
         "open_alerts": alerts.get(m.pk, 0), "active": active.get(m.pk)}
        for m in monitors
    ]
    return render(request, "web/monitor_list.html", {
        "rows": rows, "page": page, "filters": chosen, "query": chosen.query,
        "statuses": filters.MONITOR_STATUSES, "tools": Tool.choices,
        "agents": tenant_agents(viewer), "locations": sorted(known_locations(viewer.tenant)),
    })


@tenant_view()
def monitor_detail(request, viewer, monitor_id):
    monitor = monitor_for_tenant(viewer.tenant, monitor_id, with_script=True)
    runs, chosen = filters.run_filters(request.GET, runs_of_monitor(viewer.tenant, monitor))
    page = Paginator(runs.select_related("agent").defer(*LIST_DEFERRED),
                     RUNS_PER_PAGE).get_page(request.GET.get("page"))
    open_alerts = queries.open_alert_counts(viewer.tenant, [monitor.pk]).get(monitor.pk, 0)
    return render(request, "web/monitor_detail.html", {
        "monitor": monitor,
        "script_language": script_language(monitor.test.tool, monitor.test.script),
        "schedule_words": cron.describe(monitor.schedule),
        "page": page,
        "open_alerts": open_alerts,
        "filters": chosen,
        "query": chosen.query,
        "statuses": filters.RUN_STATUSES,
        "agents": tenant_agents(viewer),
        "locations": sorted(known_locations(viewer.tenant)),
        "trend": queries.trend(viewer.tenant, monitor),
        "thresholds": monitor.thresholds or {},
        "threshold_lines": queries.threshold_lines(monitor.thresholds),
    })


def script_language(tool: str, script: str) -> str:
    """The highlight.js language the monitor page colours ``script`` as; "" to leave it plain."""
    return SCRIPT_LANGUAGES.get(tool, "") if len(script) <= HIGHLIGHT_MAX_CHARS else ""


def tenant_agents(viewer):
    """The agents the tenant may use (its own and shared ones), for the forms' and filters' choices."""
    return list(agents_for_tenant(viewer.tenant).only("id", "location", "tenant_id"))


@tenant_view(write=True)
def monitor_create(request, viewer):
    agents = tenant_agents(viewer)
    form = MonitorForm(request.POST or None, request.FILES or None, agents=agents)
    if request.method == "POST" and form.is_valid():
        try:
            monitor = create_monitor(tenant=viewer.tenant, **form.service_fields())
        except (ValidationFailed, Conflict, LicenseLimitReached) as exc:
            form.add_service_errors(exc)
        else:
            messages.success(request, f"Monitor “{monitor.name}” created.")
            return redirect("web:monitor", monitor_id=monitor.pk)
    return render(request, "web/monitor_form.html", {"form": form, "monitor": None})


@tenant_view(write=True)
def monitor_edit(request, viewer, monitor_id):
    monitor = monitor_for_tenant(viewer.tenant, monitor_id, with_script=True)
    agents = tenant_agents(viewer)
    form = MonitorForm(
        request.POST or None, request.FILES or None, agents=agents, editing=True,
        initial=MonitorForm.initial_for(monitor),
    )
    if request.method == "POST" and form.is_valid():
        try:
            update_monitor(tenant=viewer.tenant, monitor=monitor, **form.service_fields())
        except (ValidationFailed, Conflict) as exc:
            form.add_service_errors(exc)
        else:
            messages.success(request, "Monitor saved.")
            return redirect("web:monitor", monitor_id=monitor.pk)
    return render(request, "web/monitor_form.html", {"form": form, "monitor": monitor})


@require_POST
@tenant_view(write=True)
def monitor_delete(request, viewer, monitor_id):
    monitor = monitor_for_tenant(viewer.tenant, monitor_id)
    delete_monitor(tenant=viewer.tenant, monitor=monitor)
    messages.success(request, f"Monitor “{monitor.name}” deleted; its runs stay in the history.")
    return redirect("web:monitors")


@require_POST
@tenant_view(write=True)
def monitor_run(request, viewer, monitor_id):
    monitor = monitor_for_tenant(viewer.tenant, monitor_id, with_script=True)
    try:
        run = request_run(tenant=viewer.tenant, monitor=monitor, trigger=RunTrigger.MANUAL, actor=viewer.actor)
    except Conflict as exc:
        messages.warning(request, exc.message)
        return redirect("web:monitor", monitor_id=monitor.pk)
    if run.status == "error":
        messages.error(request, run.error)
    else:
        messages.success(request, "Run requested.")
    return redirect("web:run", run_id=run.pk)


@require_POST
@tenant_view(write=True)
def monitor_baseline(request, viewer, monitor_id):
    """Pin the posted ``run`` as the monitor's baseline, or unpin it (``unpin``); back to that run's page."""
    monitor = monitor_for_tenant(viewer.tenant, monitor_id)
    run_id = request.POST.get("run", "")
    unpin = "unpin" in request.POST
    try:
        set_baseline(tenant=viewer.tenant, monitor=monitor, run_id=None if unpin else run_id)
    except (ValidationFailed, NotFound) as exc:
        messages.warning(request, exc.message)
    else:
        messages.success(request, "Baseline unpinned: runs are compared with the median of recent passing runs."
                         if unpin else "Run pinned as the monitor's baseline.")
    pk = as_uuid(run_id)
    return redirect("web:run", run_id=pk) if pk else redirect("web:monitor", monitor_id=monitor.pk)
