"""The dashboard's reads, built on the apps' selectors and always scoped to one tenant.

Every function here issues a fixed number of queries whatever the history
holds: lists are paginated and charts read a bounded window of recent runs,
so a monitor with 10,000 runs renders as fast as one with ten
(tests/web/test_query_counts.py pins it).
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterator
from fractions import Fraction

from django.db.models import Count, F, Q, Window
from django.db.models.functions import RowNumber

from perfmon.alerts.models import Alert, AlertState
from perfmon.fleet.selectors import agents_for_tenant
from perfmon.runs import series
from perfmon.runs.models import PartStatus, Run, RunLogChunk, RunPart, RunStatus
from perfmon.runs.selectors import LOG_CHUNK_BATCH, runs_of_monitor
from perfmon.web import figures

SPARKLINE_RUNS = 20  # runs per sparkline on the monitors list
TREND_RUNS = 200  # runs on a monitor's trend charts
BASELINE_RUNS = 10  # the baseline is the median of this many passing runs before a run
LOG_TAIL_CHUNKS = 50  # log chunks shown on a run's page (the full log is a download)
JUDGED = (RunStatus.PASS, RunStatus.FAIL)
# The figures compared between a run, its previous run and its baseline: key, label, unit, better.
COMPARED = figures.pick("p50_ms", "p90_ms", "p95_ms", "p99_ms", "error_rate", "throughput_rps", "apdex")


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


def series_points(tenant, run, *, after_seq: int = -1, part: int | None = None) -> list[dict]:
    """The run's interval series after ``after_seq``, in order, as chart-ready dicts.

    The page's first load merges a long run's 1 s points into at most
    CHART_MAX_POINTS (perfmon/runs/series.py: exact merges); the live poll's
    new points come as stored. A split run's series is its parts' merged,
    unless ``part`` picks one part's own.
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
            "p90": point.p90_ms,
            "p95": point.p95_ms,
            "p99": point.p99_ms,
            "rps": point.throughput_rps,
            "vus": point.vus,  # None when the tool reports no load level
        }
        for point in series.points(tenant, run, after_seq=after_seq, max_points=max_points, part=part)
    ]


def run_histogram(tenant, run) -> str:
    """The run's encoded latency histogram (run_for_tenant leaves it unread: lists never need it), one query."""
    return Run.objects.for_tenant(tenant).filter(pk=run.pk).values_list("histogram", flat=True).first() or ""


def log_tail(tenant, run, *, after_seq: int = -1, limit: int = LOG_TAIL_CHUNKS) -> list[dict]:
    """The run's log chunks after ``after_seq``: the last ``limit`` of them, in order."""
    rows = list(
        RunLogChunk.objects.for_tenant(tenant)
        .filter(run=run, seq__gt=after_seq)
        .order_by("-seq")
        .values("seq", "text")[:limit]
    )
    return rows[::-1]


# --- split runs: the parts, their own series and their logs ---------------------------------------

# The part figures a card shows, as the run's summary names them.
PART_FIGURES = ("count", "errors", "error_rate", "p50_ms", "p90_ms", "p95_ms", "p99_ms", "throughput_rps", "partial")


def run_parts(tenant, run) -> list[dict]:
    """A split run's parts in order, as the run page's cards show them (none for a run on one agent).

    One query; the parts' histograms are left unread (the merged figures
    are the run's own).
    """
    if not run.is_split:
        return []
    rows = (
        RunPart.objects.for_tenant(tenant)
        .filter(run=run)
        .order_by("index")
        .values("index", "agent_id", "location", "share", "status", "started_at", "completed_at", "error",
                "metrics")
    )
    return [{**row, "share_pct": share_percent(row["share"]),
             "metrics": {key: (row["metrics"] or {}).get(key) for key in PART_FIGURES}} for row in rows]


def share_percent(share: str) -> float | None:
    """A part's exact share ("1/3") as a percentage (33.33...), None when it does not read as a fraction."""
    try:
        return float(Fraction(share) * 100)
    except (TypeError, ValueError, ZeroDivisionError):
        return None


def part_series(tenant, run, parts: list[dict], *, after: dict[int, int] | None = None) -> dict[int, list[dict]]:
    """{part index: its own chart points after ``after[index]``}: one query per part, none per point."""
    after = after or {}
    return {part["index"]: series_points(tenant, run, after_seq=after.get(part["index"], -1), part=part["index"])
            for part in parts}


def split_log_tail(tenant, run, *, after: dict[int, int] | None = None,
                   limit: int = LOG_TAIL_CHUNKS) -> list[dict]:
    """A split run's log chunks ordered by (part, seq), each labelled with its part.

    For each part, its last ``limit`` chunks after ``after[part]`` (all of
    them after -1 when the part is not named), in one query: a window
    numbers each part's chunks newest first and keeps the first ``limit``.
    """
    after = after or {}
    rows = RunLogChunk.objects.for_tenant(tenant).filter(run=run)
    if after:
        newer = ~Q(part__in=list(after))
        for part, seq in after.items():
            newer |= Q(part=part, seq__gt=seq)
        rows = rows.filter(newer)
    rows = (
        rows.annotate(rank=Window(RowNumber(), partition_by=[F("part")], order_by=F("seq").desc()))
        .filter(rank__lte=limit)
        .values("part", "seq", "text")
    )
    return sorted(rows, key=lambda row: (row["part"], row["seq"]))


def split_log_texts(tenant, run, parts: list[dict]) -> Iterator[str]:
    """A split run's whole log for download: part after part, each under a line naming its part and agent."""
    agents = {part["index"]: part for part in parts}
    current = None
    rows = (
        RunLogChunk.objects.for_tenant(tenant)
        .filter(run=run)
        .order_by("part", "seq")
        .values_list("part", "text")
        .iterator(chunk_size=LOG_CHUNK_BATCH)
    )
    for part, text in rows:
        if part != current:
            about = agents.get(part, {})
            where = f" ({about['location']})" if about.get("location") else ""
            gap = "" if current is None else "\n"
            yield f"{gap}=== part {part} on agent {about.get('agent_id') or '?'}{where} ===\n"
            current = part
        yield text


def parse_cursors(text: str | None) -> dict[int, int]:
    """A per-part cursor from the live poll ("0:12,1:9": part 0 after seq 12, part 1 after 9); junk is skipped."""
    cursors = {}
    for item in (text or "").split(","):
        part, _, seq = item.partition(":")
        try:
            cursors[int(part)] = int(seq)
        except ValueError:
            continue
    return cursors


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


def pinned_baseline(tenant, monitor, run):
    """The run pinned as ``monitor``'s baseline, when there is one and it is not ``run`` itself; one query.

    A run compared with itself says nothing, so the pinned run's own page
    keeps the automatic baseline.
    """
    if monitor is None or monitor.baseline_run_id is None or monitor.baseline_run_id == run.pk:
        return None
    return (Run.objects.for_tenant(tenant).filter(pk=monitor.baseline_run_id)
            .only("id", "tenant_id", "status", "created_at", "metrics").first())


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
    """The baseline or previous figure ``other`` and ``value``'s change from it (figures.change); None when unknown."""
    if not figures.known(other):
        return None
    moved = figures.change(value, other, better) or {"pct": None, "verdict": ""}
    return {"value": other, "change_pct": moved["pct"], "verdict": moved["verdict"]}


def active_runs_by_agent(tenant, agent_ids) -> dict:
    """{agent id: [the tenant's queued or running runs on it]}, in one query.

    A split run is listed under every agent that runs one of its active parts.
    """
    runs = (
        Run.objects.for_tenant(tenant)
        .filter(Q(agent_id__in=agent_ids)
                | Q(parts__agent_id__in=agent_ids, parts__status__in=PartStatus.active()),
                status__in=RunStatus.active())
        .annotate(part_agent_id=F("parts__agent_id"))  # the filter's join: the matching part's agent
        .select_related("monitor")
        .only("id", "status", "agent_id", "created_at", "started_at", "monitor__name", "monitor__id")
        .order_by("created_at")
    )
    grouped = defaultdict(list)
    for run in runs:
        grouped[run.agent_id or run.part_agent_id].append(run)
    return grouped


def agents_with_runs(tenant):
    agents = list(agents_for_tenant(tenant).defer("last_metrics"))
    running = active_runs_by_agent(tenant, [agent.pk for agent in agents])
    for agent in agents:
        agent.active_runs = running.get(agent.pk, [])
    return agents
