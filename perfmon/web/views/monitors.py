"""Monitors: the list (the dashboard's home), detail with trends, create, edit, delete, run now."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from perfmon.core.errors import Conflict, LicenseLimitReached, ValidationFailed
from perfmon.fleet.selectors import agents_for_tenant
from perfmon.monitors import schedule as cron
from perfmon.monitors.selectors import monitor_for_tenant, monitors_for_tenant
from perfmon.monitors.services import create_monitor, delete_monitor, update_monitor
from perfmon.runs.models import RunTrigger
from perfmon.runs.selectors import runs_of_monitor
from perfmon.runs.services import request_run
from perfmon.web import queries
from perfmon.web.forms import MonitorForm
from perfmon.web.tenancy import tenant_view

MONITORS_PER_PAGE = 50
RUNS_PER_PAGE = 25


@tenant_view()
def monitor_list(request, viewer):
    page = Paginator(monitors_for_tenant(viewer.tenant), MONITORS_PER_PAGE).get_page(request.GET.get("page"))
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
    return render(request, "web/monitor_list.html", {"rows": rows, "page": page})


@tenant_view()
def monitor_detail(request, viewer, monitor_id):
    monitor = monitor_for_tenant(viewer.tenant, monitor_id, with_script=True)
    page = Paginator(runs_of_monitor(viewer.tenant, monitor).select_related("agent").defer(
        "agent__last_metrics"), RUNS_PER_PAGE).get_page(request.GET.get("page"))
    open_alerts = queries.open_alert_counts(viewer.tenant, [monitor.pk]).get(monitor.pk, 0)
    return render(request, "web/monitor_detail.html", {
        "monitor": monitor,
        "schedule_words": cron.describe(monitor.schedule),
        "page": page,
        "open_alerts": open_alerts,
        "trend": queries.trend(viewer.tenant, monitor),
        "thresholds": monitor.thresholds or {},
        "threshold_lines": queries.threshold_lines(monitor.thresholds),
    })


def _agents(viewer):
    return list(agents_for_tenant(viewer.tenant).only("id", "location", "tenant_id"))


@tenant_view(write=True)
def monitor_create(request, viewer):
    agents = _agents(viewer)
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
    agents = _agents(viewer)
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
