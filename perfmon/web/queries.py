"""The dashboard's reads, built on the apps' selectors and always scoped to one tenant.

Every function here issues a fixed number of queries whatever the history
holds: lists are paginated and charts read a bounded window of recent runs,
so a monitor with 10,000 runs renders as fast as one with ten
(tests/web/test_query_counts.py pins it).
"""

from __future__ import annotations

import statistics
from collections import defaultdict

from django.db.models import Count, F, Window
from django.db.models.functions import RowNumber

from perfmon.alerts.models import Alert, AlertState
from perfmon.fleet.selectors import agents_for_tenant
from perfmon.runs import series
from perfmon.runs.models import Run, RunLogChunk, RunStatus
from perfmon.runs.selectors import runs_of_monitor

SPARKLINE_RUNS = 20  # runs per sparkline on the monitors list
TREND_RUNS = 200  # runs on a monitor's trend charts
BASELINE_RUNS = 10  # the baseline is the median of this many passing runs before a run
LOG_TAIL_CHUNKS = 50  # log chunks shown on a run's page (the full log is a download)
JUDGED = (RunStatus.PASS, RunStatus.FAIL)
# The figures compared between a run, its previous run and its baseline: key, label, unit, better.
COMPARED = (
    ("p50_ms", "p50", "ms", "lower"),
    ("p95_ms", "p95", "ms", "lower"),
    ("p99_ms", "p99", "ms", "lower"),
    ("error_rate", "Error rate", "%", "lower"),
    ("throughput_rps", "Throughput", "req/s", "higher"),
    ("apdex", "Apdex", "", "higher"),
)


def p95_sparklines(tenant, monitor_ids) -> dict:
    """{monitor id: [p95 of its last SPARKLINE_RUNS judged runs, oldest first]} in one query.

    A window function numbers each monitor's runs newest first and keeps
    the first few, so the cost follows the page of monitors, not the history.
    """
    if not monitor_ids:
        return {}
    rows = (
        Run.objects.for_tenant(tenant)
        .filter(monitor_id__in=monitor_ids, status__in=JUDGED)
        .annotate(rank=Window(RowNumber(), partition_by=[F("monitor_id")], order_by=F("created_at").desc()))
        .filter(rank__lte=SPARKLINE_RUNS)
        .values_list("monitor_id", "metrics__p95_ms", "created_at")
    )
    lines = defaultdict(list)
    for monitor_id, p95, _created_at in sorted(rows, key=lambda row: row[2]):
        if isinstance(p95, int | float):
            lines[monitor_id].append(float(p95))
    return lines


def open_alert_counts(tenant, monitor_ids) -> dict:
    """{monitor id: number of unresolved alerts} in one query."""
    rows = (
        Alert.objects.for_tenant(tenant)
        .filter(monitor_id__in=monitor_ids, state__in=AlertState.unresolved())
        .values("monitor_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    return {row["monitor_id"]: row["n"] for row in rows}


def active_runs(tenant, monitor_ids) -> dict:
    """{monitor id: (run id, status)} of the monitors' queued or running runs, in one query."""
    rows = (
        Run.objects.for_tenant(tenant)
        .filter(monitor_id__in=monitor_ids, status__in=RunStatus.active())
        .values_list("monitor_id", "id", "status")
    )
    return {monitor_id: (run_id, status) for monitor_id, run_id, status in rows}


def trend(tenant, monitor) -> list[dict]:
    """The monitor's last TREND_RUNS judged runs, oldest first: time and summary figures."""
    rows = (
        runs_of_monitor(tenant, monitor)
        .filter(status__in=JUDGED)
        .values("id", "created_at", "completed_at", "status", "metrics")[:TREND_RUNS]
    )
    points = []
    for row in reversed(list(rows)):
        metrics = row["metrics"] or {}
        when = row["completed_at"] or row["created_at"]
        points.append({
            "t": when.timestamp(),
            "status": row["status"],
            "p50": metrics.get("p50_ms"),
            "p95": metrics.get("p95_ms"),
            "p99": metrics.get("p99_ms"),
            "error_pct": _percent(metrics.get("error_rate")),
            "rps": metrics.get("throughput_rps"),
        })
    return points


def _percent(fraction):
    return None if not isinstance(fraction, int | float) else round(fraction * 100.0, 4)


def series_points(tenant, run, *, after_seq: int = -1) -> list[dict]:
    """The run's interval series after ``after_seq``, in order, as chart-ready dicts.

    The page's first load merges a long run's 1 s points into at most
    CHART_MAX_POINTS (perfmon/runs/series.py: exact merges); the live poll's
    new points come as stored.
    """
    max_points = series.CHART_MAX_POINTS if after_seq < 0 else None
    return [
        {
            "seq": point.seq,  # a merged point's last seq: the live poll continues after it
            "t": point.end.timestamp(),
            "count": point.count,
            "errors": point.errors,
            "error_pct": round(100.0 * point.errors / point.count, 4) if point.count else 0.0,
            "p50": point.p50_ms,
            "p95": point.p95_ms,
            "p99": point.p99_ms,
            "rps": point.throughput_rps,
        }
        for point in series.points(tenant, run, after_seq=after_seq, max_points=max_points)
    ]


def log_tail(tenant, run, *, after_seq: int = -1, limit: int = LOG_TAIL_CHUNKS) -> list[dict]:
    """The run's log chunks after ``after_seq``: the last ``limit`` of them, in order."""
    rows = list(
        RunLogChunk.objects.for_tenant(tenant)
        .filter(run=run, seq__gt=after_seq)
        .order_by("-seq")
        .values("seq", "text")[:limit]
    )
    return rows[::-1]


def threshold_lines(thresholds: dict) -> dict:
    """The dashed lines the charts draw: {"latency": [{label, value}], "errors": [...]}."""
    thresholds = thresholds or {}
    lines = {"latency": [], "errors": []}
    if isinstance(thresholds.get("latencyMs"), int | float):
        percentile = thresholds.get("latencyPercentile") or 95
        lines["latency"].append({"label": f"threshold p{percentile:g}", "value": thresholds["latencyMs"]})
    if isinstance(thresholds.get("errorRatePercent"), int | float):
        lines["errors"].append({"label": "threshold", "value": thresholds["errorRatePercent"]})
    return lines


def previous_run(tenant, run):
    """The monitor's last judged run before ``run``, or None."""
    if run.monitor_id is None:
        return None
    return (
        Run.objects.for_tenant(tenant)
        .filter(monitor_id=run.monitor_id, status__in=JUDGED, created_at__lt=run.created_at)
        .defer("script", "histogram", "parameters")
        .order_by("-created_at", "-id")
        .first()
    )


def baseline(tenant, run, *, runs: int = BASELINE_RUNS) -> tuple[dict, int]:
    """(median of each compared figure over the monitor's last ``runs`` passing runs before ``run``, how many)."""
    if run.monitor_id is None:
        return {}, 0
    rows = list(
        Run.objects.for_tenant(tenant)
        .filter(monitor_id=run.monitor_id, status=RunStatus.PASS, created_at__lt=run.created_at)
        .order_by("-created_at", "-id")
        .values_list("metrics", flat=True)[:runs]
    )
    return median_metrics(rows), len(rows)


def median_metrics(metrics_list) -> dict:
    """The median of each compared figure across ``metrics_list`` (figures missing everywhere are left out)."""
    medians = {}
    for key, *_ in COMPARED:
        values = [m[key] for m in metrics_list if isinstance((m or {}).get(key), int | float)]
        if values:
            medians[key] = statistics.median(values)
    return medians


def comparison(current: dict, previous: dict | None, base: dict) -> list[dict]:
    """Rows of (figure, this run, previous run, baseline, change against each, worse or better)."""
    rows = []
    for key, label, unit, better in COMPARED:
        value = (current or {}).get(key)
        rows.append({
            "key": key,
            "label": label,
            "unit": unit,
            "value": value,
            "previous": _compare(value, (previous or {}).get(key), better),
            "baseline": _compare(value, base.get(key), better),
        })
    return rows


def _compare(value, other, better: str) -> dict | None:
    if not isinstance(other, int | float):
        return None
    if not isinstance(value, int | float) or other == 0:
        return {"value": other, "change_pct": None, "verdict": ""}
    change = (value - other) / abs(other) * 100.0
    if abs(change) < 5:
        verdict = "same"
    elif (change > 0) == (better == "higher"):
        verdict = "better"
    else:
        verdict = "worse"
    return {"value": other, "change_pct": change, "verdict": verdict}


def active_runs_by_agent(tenant, agent_ids) -> dict:
    """{agent id: [the tenant's queued or running runs on it]}, in one query."""
    runs = (
        Run.objects.for_tenant(tenant)
        .filter(agent_id__in=agent_ids, status__in=RunStatus.active())
        .select_related("monitor")
        .only("id", "status", "agent_id", "created_at", "started_at", "monitor__name", "monitor__id")
        .order_by("created_at")
    )
    grouped = defaultdict(list)
    for run in runs:
        grouped[run.agent_id].append(run)
    return grouped


def agents_with_runs(tenant):
    agents = list(agents_for_tenant(tenant).defer("last_metrics"))
    running = active_runs_by_agent(tenant, [agent.pk for agent in agents])
    for agent in agents:
        agent.active_runs = running.get(agent.pk, [])
    return agents
