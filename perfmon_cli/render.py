"""Tables and panels the CLI prints (rich)."""

from __future__ import annotations

from rich.markup import escape
from rich.table import Table

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
