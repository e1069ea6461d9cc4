"""The tenant's runs list; a run's page (live while it runs), its JSON feed for the page's polling, downloads (log, CSV) and cancel."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import JsonResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from perfmon.core.errors import Conflict, NotFound
from perfmon.definitions.models import Tool
from perfmon.fleet.selectors import known_locations
from perfmon.runs.models import RunStatus
from perfmon.runs.selectors import log_texts, part_with_breakdown, run_for_tenant, runs_of_tenant
from perfmon.runs.services import cancel_run
from perfmon.web import breakdown, exports, filters, queries
from perfmon.web.tenancy import tenant_view
from perfmon.web.views.monitors import LIST_DEFERRED, RUNS_PER_PAGE, tenant_agents

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


def chosen_part(params, run, parts: list[dict]) -> tuple[int | None, str]:
    """(the part whose own breakdown the analysis shows, None for the run's merged one; why ``part`` was ignored).

    ``part`` is a part's index; empty (or absent) means the merged run. A
    value that names no part of the run is named and ignored, never a 500.
    """
    value = str(params.get("part", "") or "").strip()[:20]
    if not value:
        return None, ""
    indexes = {part["index"] for part in parts}
    if value.isdigit() and int(value) in indexes:
        return int(value), ""
    where = "this run" if run.is_split else "this run (it ran on one agent)"
    return None, f"There is no part “{value}” of {where}: showing the run's requests, all parts merged."


def analysis_of(tenant, run, part: int | None) -> dict:
    """The per-request analysis of the finished ``run``, or of its part ``part``: one query either way."""
    source = part_with_breakdown(tenant, run, part) if part is not None else None
    if source is None:  # the merged run (also when the part went away between reads)
        return {**breakdown.page_context(run, queries.run_histogram(tenant, run)), "part": None}
    return {**breakdown.page_context(source, source.histogram, owner=f"part {part} of run {run.pk}"), "part": part}


@tenant_view()
def run_list(request, viewer):
    """The tenant's runs of every monitor, newest first, filtered and paginated like a monitor's runs."""
    tenant = viewer.tenant
    runs, chosen = filters.tenant_run_filters(request.GET, runs_of_tenant(tenant))
    runs = runs.select_related("agent", "monitor").defer(*LIST_DEFERRED)
    page = Paginator(runs, RUNS_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "web/run_list.html", {
        "page": page,
        "filters": chosen,
        "query": chosen.query,
        "statuses": filters.RUN_STATUSES,
        "tools": Tool.choices,
        "agents": tenant_agents(viewer),
        "locations": sorted(known_locations(tenant)),
    })


@tenant_view()
def run_detail(request, viewer, run_id):
    run = run_for_tenant(viewer.tenant, run_id)
    tenant = viewer.tenant
    series = queries.series_points(tenant, run)
    previous = queries.previous_run(tenant, run) if run.is_final else None
    monitor = run.monitor
    pinned = queries.pinned_baseline(tenant, monitor, run) if run.is_final else None
    if pinned is not None:
        base, base_runs = pinned.metrics or {}, 1
    else:
        base, base_runs = queries.baseline(tenant, run) if run.is_final else ({}, 0)
    parts = queries.run_parts(tenant, run)
    if run.is_split:
        logs = queries.split_log_tail(tenant, run)
        charts = queries.part_series(tenant, run, parts)
        for part in parts:
            part["logs"] = [chunk for chunk in logs if chunk["part"] == part["index"]]
            part["series"] = charts[part["index"]]
    else:
        logs = queries.log_tail(tenant, run)
    part, part_error = chosen_part(request.GET, run, parts)
    analysis = analysis_of(tenant, run, part) if run.is_final else None
    return render(request, "web/run_detail.html", {
        "run": run,
        "monitor": monitor,
        "pinned": pinned,
        "is_pinned": monitor is not None and monitor.baseline_run_id == run.pk,
        "can_pin": run.status in queries.JUDGED and monitor is not None,
        "agent": run.agent,
        "series": series,
        "no_data": no_data_reason(run, series),
        "logs": logs,
        "parts": parts,
        "parts_data": [{"index": part["index"], "status": part["status"], "series": part["series"]}
                       for part in parts],
        "previous": previous,
        "baseline_runs": base_runs,
        "baseline_size": queries.BASELINE_RUNS,
        "comparison": queries.comparison(run.metrics, previous.metrics if previous else None, base)
        if run.is_final else [],
        "poll_ms": POLL_INTERVAL_MS,
        "threshold_lines": queries.threshold_lines(run.thresholds),
        "analysis": analysis,
        "part_error": part_error,
    })


@never_cache
@tenant_view()
def run_live(request, viewer, run_id):
    """What changed since the page's last poll: status, new series points and new log chunks.

    A split run's poll names a cursor per part ("0:12,1:9") for its logs
    (``log_after``) and its parts' own series (``part_series_after``); the
    answer adds each part's status and new points, and labels log chunks
    with their part.
    """
    tenant = viewer.tenant
    run = run_for_tenant(tenant, run_id)
    series = queries.series_points(tenant, run, after_seq=_int(request.GET.get("series_after")))
    news = {
        "status": run.status,
        "started_at": run.started_at.isoformat() if run.started_at else None,
        "final": run.is_final,
        "series": series,
    }
    if not run.is_split:
        news["logs"] = queries.log_tail(tenant, run, after_seq=_int(request.GET.get("log_after")))
        return JsonResponse(news)
    parts = queries.run_parts(tenant, run)
    charts = queries.part_series(tenant, run, parts,
                                 after=queries.parse_cursors(request.GET.get("part_series_after")))
    news["logs"] = queries.split_log_tail(tenant, run, after=queries.parse_cursors(request.GET.get("log_after")))
    news["parts"] = [{"index": part["index"], "status": part["status"], "series": charts[part["index"]]}
                     for part in parts]
    return JsonResponse(news)


@tenant_view()
def run_log(request, viewer, run_id):
    """The run's whole log as a text download, streamed chunk by chunk (a split run's part after part, labelled)."""
    run = run_for_tenant(viewer.tenant, run_id)
    if run.is_split:
        texts = queries.split_log_texts(viewer.tenant, run, queries.run_parts(viewer.tenant, run))
    else:
        texts = log_texts(viewer.tenant, run)
    response = StreamingHttpResponse(texts, content_type="text/plain; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="run-{run.pk}.log"'
    return response


def _csv(lines, filename: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@tenant_view()
def run_series_csv(request, viewer, run_id):
    """The run's interval series as CSV, streamed in batches (a split run's: its parts merged)."""
    run = run_for_tenant(viewer.tenant, run_id)
    return _csv(exports.series_csv(viewer.tenant, run), f"run-{run.pk}-series.csv")


@tenant_view()
def run_requests_csv(request, viewer, run_id):
    """The run's per-request table as CSV (only the header for a run without a breakdown).

    ``?part=N`` gives a split run's part N's own table; a part the run does not have is a 404.
    """
    run = run_for_tenant(viewer.tenant, run_id)
    value = str(request.GET.get("part", "") or "").strip()
    if not value:
        return _csv(exports.requests_csv(run), f"run-{run.pk}-requests.csv")
    # A part's index is below PERFMON_SPLIT_MAX_PARTS; longer digits would overflow the column's type.
    part = part_with_breakdown(viewer.tenant, run, int(value)) if value.isdigit() and len(value) <= 4 else None
    if part is None:
        raise NotFound(f"run {run.pk} has no part {value[:20]}")
    return _csv(exports.requests_csv(part), f"run-{run.pk}-part-{part.index}-requests.csv")


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
