"""Tables and panels the CLI prints (rich)."""

from __future__ import annotations

from rich.markup import escape
from rich.table import Table

from perfmon_cli.reports import request_label

STATUS_STYLE = {"pass": "green", "fail": "red", "error": "red", "running": "cyan", "queued": "yellow",
                "cancelled": "magenta", "skipped": "magenta"}
METRICS = [("p50", "p50 (ms)"), ("p95", "p95 (ms)"), ("p99", "p99 (ms)"), ("avg", "avg (ms)"),
           ("errorRate", "error rate"), ("throughput", "throughput (req/s)"), ("totalRequests", "requests"),
           ("apdex", "Apdex")]


def styled(status: str | None) -> str:
    status = status or "-"
    return f"[{STATUS_STYLE.get(status, 'white')}]{status}[/]"


def _number(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1 else f"{value:,.1f}"
    return f"{value:,}"


def metrics_table(run: dict) -> Table:
    table = Table(title=f"run {run.get('id')}  {styled(run.get('status'))}", show_header=True)
    table.add_column("metric")
    table.add_column("value", justify="right")
    metrics = run.get("metrics") or {}
    for key, label in METRICS:
        if key in metrics:
            value = metrics[key]
            table.add_row(label, f"{value * 100:.2f} %" if key == "errorRate" and value is not None
                          else _number(value))
    for breach in run.get("thresholdBreaches") or []:
        table.add_row(f"[red]breach {breach.get('metric')}",
                      f"[red]{_number(breach.get('actual'))} > {_number(breach.get('threshold'))}")
    # Why it ended as it did; a fail's reason repeats the breach rows above.
    reason = run.get("reason") or run.get("error")
    if reason and run.get("status") != "fail":
        table.add_row("[red]reason", f"[red]{escape(reason)}")
    return table


def monitors_table(monitors: list[dict]) -> Table:
    table = Table(title="monitors")
    # A narrow terminal folds an id over lines rather than cutting it: it stays whole for copying.
    table.add_column("id", overflow="fold")
    for column in ("name", "tool", "schedule", "enabled", "last run", "last status"):
        table.add_column(column)
    for m in monitors:
        table.add_row(m["id"], m["name"], m.get("tool", ""), m.get("schedule", ""),
                      "yes" if m.get("enabled") else "no", m.get("lastRun") or "-", styled(m.get("lastStatus")))
    return table


def runs_table(runs: list[dict], monitor_names: dict) -> Table:
    table = Table(title="runs")
    table.add_column("id", overflow="fold")
    for column in ("monitor", "status", "started", "completed", "p95 (ms)", "error rate", "agent"):
        table.add_column(column)
    for r in runs:
        metrics = r.get("metrics") or {}
        rate = metrics.get("errorRate")
        table.add_row(r["id"], monitor_names.get(r.get("monitorId"), r.get("monitorId") or "-"),
                      styled(r.get("status")), r.get("startedAt") or "-", r.get("completedAt") or "-",
                      _number(metrics.get("p95")), "-" if rate is None else f"{rate * 100:.2f} %",
                      r.get("agentId") or "-")
    return table


# What `perfmon compare --metric` may show per request name (a /requests figure in ms, or req/s).
REQUEST_METRICS = ("p50", "p90", "p95", "p99", "avg", "min", "max", "throughput")
COMPARED = [("p50", "p50 (ms)"), ("p95", "p95 (ms)"), ("p99", "p99 (ms)"), ("avg", "avg (ms)"), ("min", "min (ms)"),
            ("max", "max (ms)"), ("errorRate", "error rate"), ("throughput", "throughput (req/s)"),
            ("totalRequests", "requests"), ("apdex", "Apdex")]


def _change(change) -> str:
    """A relative change as a signed percentage (``+50.4 %``); empty when there is none."""
    return "" if change is None else f" ({change * 100:+.1f} %)"


def _value(metric: str, value) -> str:
    if value is None:
        return "-"
    if metric == "errorRate":
        return f"{value * 100:.2f} %"
    if metric in ("count", "errors", "totalRequests"):
        return f"{int(value):,}"
    return _number(float(value))


def _figures(figures: list[dict]) -> dict[str, dict]:
    return {figure["metric"]: figure for figure in figures}


def comparison_table(comparison: dict) -> Table:
    """The runs' figures side by side, each later run's with its change from the first's."""
    runs = comparison["runs"]
    table = Table(title="runs compared (changes from the first)")
    table.add_column("metric")
    for index, run in enumerate(runs):
        label = f"{run['id'][:8]} {styled(run.get('status'))}"
        table.add_column(label if index else f"{label} (base)", justify="right")
    table.add_row("started", *[r.get("startedAt") or "-" for r in runs])
    figures = _figures(comparison.get("metrics") or [])
    for key, label in COMPARED:
        figure = figures.get(key)
        if figure is not None:
            table.add_row(label, *[_value(key, value) + _change(change)
                                   for value, change in zip(figure["values"], figure["changes"], strict=False)])
    return table


def comparison_requests_table(comparison: dict, *, metric: str = "p95") -> Table:
    """Each request name: its count, errors and ``metric`` in every run, with the changes from the first."""
    runs = comparison["runs"]
    unit = "req/s" if metric == "throughput" else "ms"
    table = Table(title=f"requests compared: count, errors, {metric} ({unit})")
    table.add_column("request", overflow="fold")
    for run in runs:
        table.add_column(f"{run['id'][:8]}", justify="right")
    for row in comparison.get("requests") or []:
        figures = _figures(row.get("metrics") or [])
        label = request_label(row)
        cells = []
        for index in range(len(runs)):
            parts = []
            for key in ("count", "errors", metric):
                figure = figures.get(key) or {"values": [None] * len(runs), "changes": [None] * len(runs)}
                value = figure["values"][index]
                parts.append(_value(key, value) + ("" if key == "count" else _change(figure["changes"][index])))
            cells.append("-" if all(p == "-" for p in parts) else " / ".join(parts))
        table.add_row(escape(label), *cells)
    return table


def live_line(points: list[dict]) -> str:
    """Figures so far from the run's interval series: totals, and the latest interval's latency and rate."""
    if not points:
        return "[dim]no interval figures yet[/]"
    total = sum(p["count"] for p in points)
    errors = sum(p["errors"] for p in points)
    last = points[-1]
    return (f"{total:,} requests, {errors:,} errors ({errors / total * 100 if total else 0:.2f} %) | last "
            f"{last['intervalS']:g}s: p95 {_number(last['p95'])} ms, p99 {_number(last['p99'])} ms, "
            f"{_number(last['throughput'])} req/s")
