"""Alerts: open, acknowledged and resolved, with acknowledge and a note."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from perfmon.alerts.models import AlertState
from perfmon.alerts.selectors import alert_for_tenant, alerts_for_tenant
from perfmon.alerts.services import acknowledge_alert
from perfmon.core.errors import Conflict
from perfmon.web.forms import AcknowledgeForm
from perfmon.web.tenancy import tenant_view

ALERTS_PER_PAGE = 50
TABS = [("open", "Open"), ("acknowledged", "Acknowledged"), ("resolved", "Resolved"), ("all", "All")]


@tenant_view()
def alert_list(request, viewer):
    state = request.GET.get("state", "open")
    if state not in dict(TABS):
        state = "open"
    queryset = alerts_for_tenant(viewer.tenant, state=None if state == "all" else state)
    queryset = queryset.select_related("monitor", "agent", "last_run").only(
        "id", "kind", "state", "title", "occurrences", "opened_at", "resolved_at", "acknowledged_at",
        "acknowledged_by_label", "note", "details", "monitor__id", "monitor__name", "agent__id",
        "last_run__id", "last_run__status",
    )
    page = Paginator(queryset, ALERTS_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "web/alert_list.html", {
        "page": page, "state": state, "tabs": TABS, "form": AcknowledgeForm(), "states": AlertState,
    })


@require_POST
@tenant_view(write=True)
def alert_acknowledge(request, viewer, alert_id):
    alert = alert_for_tenant(viewer.tenant, alert_id)
    form = AcknowledgeForm(request.POST)
    if not form.is_valid():
        messages.error(request, "The note is too long (2,000 characters at most).")
    else:
        try:
            acknowledge_alert(tenant=viewer.tenant, alert=alert, note=form.cleaned_data["note"],
                              actor=viewer.user.get_username(), user=viewer.user)
        except Conflict as exc:
            messages.warning(request, exc.message)
        else:
            messages.success(request, f"Alert “{alert.title}” acknowledged.")
    back = request.POST.get("next", "")
    return redirect(back if back.startswith("/") and not back.startswith("//") else "web:alerts")
