"""Two or three runs compared: /runs/compare/?ids=a,b[,c] (the first run is the reference)."""

from __future__ import annotations

from django.shortcuts import render

from perfmon.runs.selectors import runs_by_ids
from perfmon.web import compare, queries
from perfmon.web.tenancy import tenant_view

# Line colours of the first, second and third run (Okabe-Ito, as the other charts).
RUN_COLORS = ("#0072B2", "#E69F00", "#009E73")


@tenant_view()
def run_compare(request, viewer):
    """The runs' figures side by side, their p95 and throughput overlaid on elapsed time, and per request.

    ``order=oldest`` compares them oldest first (the run list sends it),
    else in the order given. Ids that cannot name 2 or 3 runs answer a 400 page saying why; a run
    of another tenant (or none) is a 404, as on the run page.
    """
    try:
        ids = compare.parse_ids(request.GET.getlist("ids"))
    except compare.BadIds as exc:
        return render(request, "web/run_compare.html", {"error": str(exc)}, status=400)
    tenant = viewer.tenant
    runs = runs_by_ids(tenant, ids)
    if request.GET.get("order") == "oldest":  # the run lists' checkboxes: the oldest ticked run is the reference
        runs.sort(key=lambda run: (run.created_at, str(run.pk)))
    elapsed = [compare.elapsed_points(queries.series_points(tenant, run),
                                      run.started_at.timestamp() if run.started_at else None) for run in runs]
    labels = [f"run {index + 1} ({str(run.pk)[:8]})" for index, run in enumerate(runs)]
    charts = {}
    for key in ("p95", "rps"):
        data = compare.overlay(elapsed, key)
        charts[key] = {"x": data["x"], "series": [
            {"label": label, "color": color, "values": values}
            for label, color, values in zip(labels, RUN_COLORS, data["values"], strict=False)]}
    return render(request, "web/run_compare.html", {
        "runs": [{"run": run, "label": label, "color": color, "points": len(points)}
                 for run, label, color, points in zip(runs, labels, RUN_COLORS, elapsed, strict=False)],
        "summary": compare.summary_rows(runs),
        "requests": compare.request_table(runs),
        "charts": charts,
    })
