"""Rows for the dashboard's tests: judged runs (split runs too) with figures, series, logs and alerts.

A run with a per-request breakdown is built from real records by the agents' own
ResultBuilder, and stored as concluding a run stores it (its summary, histogram,
requests, checks and series points).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.utils import timezone

from perfmon.alerts.models import Alert, AlertKind
from perfmon.fleet.models import Agent
from perfmon.runs import series
from perfmon.runs.models import Run, RunLogChunk, RunPart, SeriesPoint
from runners.builder import ResultBuilder
from runners.histogram import LatencyHistogram
from runners.records import RequestRecord
from runners.result import Result
from tests.factories import make_agent


def metrics(p95=100.0, *, error_rate=0.01, rps=20.0, apdex=0.95, count=1000):
    return {
        "count": count, "errors": int(count * error_rate), "error_rate": error_rate, "p50_ms": p95 / 2,
        "p90_ms": p95 * 0.9, "p95_ms": p95, "p99_ms": p95 * 1.5, "min_ms": 1.0, "max_ms": p95 * 3,
        "avg_ms": p95 / 1.8, "throughput_rps": rps, "apdex": apdex, "apdex_t_ms": 500.0,
    }


def make_run(monitor, *, status="pass", minutes_ago=0, p95=100.0, **metric_fields) -> Run:
    run = Run.all_tenants.create(
        tenant=monitor.tenant, monitor=monitor, test=monitor.test, tool=monitor.test.tool, status=status,
        metrics=metrics(p95, **metric_fields) if status in ("pass", "fail") else {},
        thresholds=monitor.thresholds, completed_at=timezone.now() - timedelta(minutes=minutes_ago),
    )
    Run.all_tenants.filter(pk=run.pk).update(created_at=timezone.now() - timedelta(minutes=minutes_ago, seconds=30))
    run.refresh_from_db()
    return run


def bulk_runs(monitor, n: int, *, status="pass") -> None:
    """``n`` judged runs of ``monitor`` in one statement (the 10,000-run history)."""
    now = timezone.now()
    Run.all_tenants.bulk_create(
        [
            Run(tenant=monitor.tenant, monitor=monitor, test=monitor.test, tool=monitor.test.tool, status=status,
                metrics=metrics(100.0 + i % 50), completed_at=now - timedelta(minutes=n - i))
            for i in range(n)
        ],
        batch_size=2000,
    )


def add_series(run, n: int, *, start_seq: int = 0) -> None:
    base = timezone.now() - timedelta(seconds=5 * (n + start_seq))
    SeriesPoint.all_tenants.bulk_create([
        SeriesPoint(run=run, seq=seq, start=base + timedelta(seconds=5 * seq), interval_s=5.0, count=100,
                    errors=seq % 3, p50_ms=40.0 + seq, p90_ms=80.0 + seq, p95_ms=90.0 + seq, p99_ms=130.0 + seq,
                    throughput_rps=20.0)
        for seq in range(start_seq, start_seq + n)
    ])


def add_logs(run, texts, *, start_seq: int = 0) -> None:
    RunLogChunk.all_tenants.bulk_create(
        [RunLogChunk(run=run, seq=start_seq + i, text=text) for i, text in enumerate(texts)]
    )


def open_alert(monitor, *, run=None, title="Login: latencyMs breached") -> Alert:
    return Alert.all_tenants.create(
        tenant=monitor.tenant, monitor=monitor, kind=AlertKind.RUN_FAILED, title=title, opened_at=timezone.now(),
        first_run=run, last_run=run,
    )


# --- split runs ------------------------------------------------------------------------------

# Two parts of one split run: (agent id, location, share, requests per 1 s interval, latency each ms).
SPLIT_PARTS = (("eu-1", "eu-west-1", "3/5", 30, 40.0), ("us-1", "us-east-1", "2/5", 20, 160.0))


def part_metrics(count: int, latency_ms: float, *, errors: int = 0, rps: float = 10.0) -> dict:
    """A part's reported figures (the keys Result.to_dict gives), every request at ``latency_ms``."""
    return {
        "count": count, "errors": errors, "error_rate": errors / count if count else 0.0, "min_ms": latency_ms,
        "avg_ms": latency_ms, "p50_ms": latency_ms, "p90_ms": latency_ms, "p95_ms": latency_ms,
        "p99_ms": latency_ms, "max_ms": latency_ms, "throughput_rps": rps, "duration_s": count / rps,
        "started_at": None, "ended_at": None, "apdex": 1.0, "apdex_t_ms": 500.0, "partial": False,
    }


def make_split_run(monitor, *, status="pass", parts=SPLIT_PARTS, intervals: int = 5, start=None) -> Run:
    """A judged split run with one RunPart per agent, each with its figures and its own 1 s series.

    The parts' points lie on one grid (as agents stream them), each interval
    holding ``requests`` requests of the part at its latency, with real HDR
    histograms so the run's merged series is computed exactly from them.
    """
    run = make_run(monitor, status=status)
    start = start or timezone.now().replace(microsecond=0) - timedelta(minutes=5)
    figures = {}
    if run.metrics:  # judged: the run's figures are its parts' merged
        merged = LatencyHistogram()
        for *_, requests, latency in parts:
            merged.record(latency, requests * intervals)
        pct = merged.percentiles((50, 95, 99))
        figures = {**part_metrics(merged.count, pct[50], rps=merged.count / intervals), "p95_ms": pct[95],
                   "p99_ms": pct[99], "parts": len(parts)}
    Run.all_tenants.filter(pk=run.pk).update(
        agent=None, distribution={"agents": len(parts)}, started_at=start, metrics=figures,
    )
    run.refresh_from_db()
    for index, (agent_id, location, share, requests, latency) in enumerate(parts):
        agent = Agent.all_tenants.filter(pk=agent_id).first() or make_agent(agent_id, tenant=monitor.tenant,
                                                                             location=location)
        RunPart.all_tenants.create(
            run=run, index=index, agent=agent, location=location, share=share,
            status="completed" if run.is_final else "running", started_at=start,
            completed_at=start + timedelta(seconds=intervals) if run.is_final else None,
            metrics=part_metrics(requests * intervals, latency, rps=float(requests)) if run.is_final else {},
        )
        add_part_series(run, index, intervals, requests=requests, latency_ms=latency, start=start)
    if run.is_final:
        series.store_merged(run)  # as concluding the run does
    return run


def add_part_series(run, part: int, n: int, *, requests: int, latency_ms: float, start, start_seq: int = 0) -> None:
    """``n`` of a part's 1 s points from ``start_seq`` on the grid from ``start``, every request at ``latency_ms``."""
    hist = LatencyHistogram()
    hist.record(latency_ms, requests)
    encoded = hist.encode()
    SeriesPoint.all_tenants.bulk_create([
        SeriesPoint(run=run, part=part, seq=seq, start=start + timedelta(seconds=seq), interval_s=1.0,
                    covered_s=1.0, count=requests, errors=0, p50_ms=latency_ms, p90_ms=latency_ms,
                    p95_ms=latency_ms, p99_ms=latency_ms, throughput_rps=float(requests), histogram=encoded)
        for seq in range(start_seq, start_seq + n)
    ])


def add_part_logs(run, part: int, texts, *, start_seq: int = 0) -> None:
    RunLogChunk.all_tenants.bulk_create(
        [RunLogChunk(run=run, part=part, seq=start_seq + i, text=text) for i, text in enumerate(texts)]
    )


# --- runs with a per-request breakdown ---------------------------------------------------------

def shop_records(start: float) -> list[RequestRecord]:
    """Three request names from ``start`` (epoch s) over about 6 s, each with its own latencies and errors.

    GET /home: 60 requests at 10..69 ms, all 200. POST /login: 30 at 100..245 ms,
    three answered 500 and two without a response ("connection refused"). GET
    /search: 20 at 300..490 ms, two answered 404. By p95 the order is search,
    login, home; by count it is home, login, search.
    """
    records = [RequestRecord(ts=start + i * 0.1, latency_ms=10.0 + i, status=200, name="GET /home", method="GET")
               for i in range(60)]
    for i in range(30):
        status, error = (500, "") if i in (3, 13, 23) else (0, "connection refused") if i in (7, 17) else (200, "")
        records.append(RequestRecord(ts=start + i * 0.2, latency_ms=100.0 + 5 * i, status=status, failed=bool(error),
                                     name="POST /login", method="POST", error=error))
    for i in range(20):
        records.append(RequestRecord(ts=start + i * 0.3, latency_ms=300.0 + 10 * i, status=404 if i in (5, 15) else 200,
                                     name="GET /search", method="GET"))
    return records


SHOP_CHECKS = (("status is 200", True, 103), ("status is 200", False, 7), ("has a token", True, 25))


def build_result(records, *, checks=(), vus=()) -> Result:
    """The Result the agents' builder makes of ``records`` (1 s intervals), ``checks`` (name, passed, count)
    and ``vus`` samples (epoch s, active VUs)."""
    builder = ResultBuilder(interval_s=1.0)
    for record in sorted(records, key=lambda r: r.ts):
        builder.add(record)
    for when, active in vus:
        builder.add_vus(when, active)
    for name, passed, count in checks:
        builder.add_check(name, passed, count)
    return builder.result()


def store_result(run: Run, result: Result) -> Run:
    """Store ``result`` on ``run`` as concluding it does: summary, histogram, breakdown and series."""
    data = result.to_dict()
    metrics = {key: value for key, value in data.items() if key not in ("histogram", "series", "requests", "checks")}
    Run.all_tenants.filter(pk=run.pk).update(metrics=metrics, histogram=data["histogram"],
                                             requests=data["requests"], checks=data["checks"])
    SeriesPoint.all_tenants.bulk_create([
        SeriesPoint(run=run, seq=p.seq, start=datetime.fromtimestamp(p.start, UTC), interval_s=p.interval_s,
                    covered_s=p.covered_s, count=p.count, errors=p.errors, p50_ms=p.p50_ms, p90_ms=p.p90_ms,
                    p95_ms=p.p95_ms, p99_ms=p.p99_ms, throughput_rps=p.throughput_rps, histogram=p.histogram,
                    vus=p.vus)
        for p in result.series
    ])
    run.refresh_from_db()
    return run


def make_breakdown_run(monitor, records=None, *, checks=SHOP_CHECKS, vus=None, status="pass",
                       start: float | None = None) -> Run:
    """A judged run with a per-request breakdown (shop_records from ``start``, default 3 minutes ago)
    and VUs ramping 1..6, one more each second."""
    if records is None:
        start = float(int(timezone.now().timestamp()) - 180) if start is None else start
        records = shop_records(start)
    start = min(record.ts for record in records)
    vus = [(start + s + 0.5, s + 1) for s in range(6)] if vus is None else vus
    return store_result(make_run(monitor, status=status), build_result(records, checks=checks, vus=vus))


def _result_fields(result: Result) -> dict:
    data = result.to_dict()
    return {"metrics": {key: value for key, value in data.items()
                        if key not in ("histogram", "series", "requests", "checks")},
            "histogram": data["histogram"], "requests": data["requests"], "checks": data["checks"]}


def split_shop_records(start: float) -> tuple[list[RequestRecord], list[RequestRecord]]:
    """Two parts' traffic: part 0 serves GET /home (60) and POST /login (30) of shop_records; part 1
    GET /home three times as slow (60, 30..207 ms) and GET /search (20), so the merged run has 120 /home."""
    import dataclasses

    records = shop_records(start)
    first = [r for r in records if r.name != "GET /search"]
    second = [dataclasses.replace(r, latency_ms=r.latency_ms * 3) if r.name == "GET /home" else r
              for r in records if r.name != "POST /login"]
    return first, second


def make_split_breakdown_run(monitor, *, start: float | None = None) -> Run:
    """A judged split run whose two parts carry their own per-request breakdowns (split_shop_records),
    the run the merge of them, as concluding it stores it."""
    run = make_split_run(monitor)
    start = float(int(timezone.now().timestamp()) - 180) if start is None else start
    results = [build_result(records, checks=SHOP_CHECKS if index == 0 else ())
               for index, records in enumerate(split_shop_records(start))]
    for index, result in enumerate(results):
        RunPart.all_tenants.filter(run=run, index=index).update(**_result_fields(result))
    merged = _result_fields(Result.merge(*results))
    Run.all_tenants.filter(pk=run.pk).update(**{**merged, "metrics": {**merged["metrics"], "parts": 2}})
    run.refresh_from_db()
    return run
