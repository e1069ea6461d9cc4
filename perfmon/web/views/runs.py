"""A run's page (live while it runs), its JSON feed for the page's polling, logs download and cancel."""

from __future__ import annotations

from django.contrib import messages
from django.http import JsonResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from perfmon.core.errors import Conflict
from perfmon.runs.models import RunStatus
from perfmon.runs.selectors import log_texts, run_for_tenant
from perfmon.runs.services import cancel_run
from perfmon.web import queries
from perfmon.web.tenancy import tenant_view

# How often the run page asks for news while the run is queued or running (ms).
POLL_INTERVAL_MS = 1500


def _int(value, default: int = -1) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def no_data_reason(run, series) -> str:
    """Why a finished run has no interval series to chart ("" when it has one, or may still get one)."""
    if series or not run.is_final:
        return ""
    if run.error or run.status_reason:
        return run.error or run.status_reason
    if run.status == RunStatus.CANCELLED:
        return "the run was cancelled before it recorded an interval."
    if run.metrics:
        return "the tool reported no intervals while it ran; the summary above covers the whole run."
    return "the run recorded nothing."


@tenant_view()
def run_detail(request, viewer, run_id):
    run = run_for_tenant(viewer.tenant, run_id)
    tenant = viewer.tenant
    series = queries.series_points(tenant, run)
    previous = queries.previous_run(tenant, run) if run.is_final else None
    base, base_runs = queries.baseline(tenant, run) if run.is_final else ({}, 0)
    return render(request, "web/run_detail.html", {
        "run": run,
        "monitor": run.monitor,
        "agent": run.agent,
        "series": series,
        "no_data": no_data_reason(run, series),
        "logs": queries.log_tail(tenant, run),
        "previous": previous,
        "baseline_runs": base_runs,
        "baseline_size": queries.BASELINE_RUNS,
        "comparison": queries.comparison(run.metrics, previous.metrics if previous else None, base)
        if run.is_final else [],
        "poll_ms": POLL_INTERVAL_MS,
        "threshold_lines": queries.threshold_lines(run.thresholds),
    })


@never_cache
@tenant_view()
def run_live(request, viewer, run_id):
    """What changed since the page's last poll: status, new series points and new log chunks."""
    run = run_for_tenant(viewer.tenant, run_id)
    series = queries.series_points(viewer.tenant, run, after_seq=_int(request.GET.get("series_after")))
    logs = queries.log_tail(viewer.tenant, run, after_seq=_int(request.GET.get("log_after")))
    return JsonResponse({
        "status": run.status,
        "started_at": run.started_at.isoformat() if run.started_at else None,
        "final": run.is_final,
        "series": series,
        "logs": logs,
    })


@tenant_view()
def run_log(request, viewer, run_id):
    """The run's whole log as a text download, streamed chunk by chunk."""
    run = run_for_tenant(viewer.tenant, run_id)
    response = StreamingHttpResponse(log_texts(viewer.tenant, run), content_type="text/plain; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="run-{run.pk}.log"'
    return response


@require_POST
@tenant_view(write=True)
def run_cancel(request, viewer, run_id):
    try:
        cancel_run(tenant=viewer.tenant, run_id=run_id, actor=viewer.actor)
    except Conflict as exc:
        messages.warning(request, exc.message)
    else:
        messages.success(request, "Cancellation requested.")
    return redirect("web:run", run_id=run_id)
