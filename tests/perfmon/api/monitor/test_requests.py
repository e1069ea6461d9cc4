"""A run's per-request breakdown on /api: requests, errors by cause, checks, the latency histogram,
and runs compared. Runs are measured by runners' own ResultBuilder and stored the way the agent's
report stores them (claim_run, finish_run)."""

from __future__ import annotations

import math
import time
import uuid
from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from perfmon.runs.ingest import claim_run
from perfmon.runs.judge import breakdown, finish_run
from perfmon.runs.models import Run, RunPart, RunStatus
from runners.histogram import LatencyHistogram, nearest_rank
from runners.protocol import RunReport
from runners.records import RequestRecord
from runners.result import Result, ResultBuilder
from tests.factories import make_agent, make_monitor
from tests.perfmon.api.monitor.conftest import assert_envelope, make_run

BREAKDOWN = ("requests", "errors", "checks", "histogram")


def measured(requests: list[RequestRecord], checks: dict | None = None) -> Result:
    builder = ResultBuilder()
    for record in requests:
        builder.add(record)
    for name, (passes, fails) in (checks or {}).items():
        builder.add_check(name, passed=True, count=passes)
        builder.add_check(name, passed=False, count=fails)
    return builder.result()


def reported(tenant, result: Result, *, agent_id: str | None = None) -> Run:
    """A run of a new monitor that an agent claimed and reported ``result`` for, as the agent API does."""
    agent = make_agent(agent_id or f"agent-{uuid.uuid4().hex[:8]}", tenant=tenant)
    run = make_run(tenant, make_monitor(tenant), status=RunStatus.QUEUED, agent=agent)
    claim_run(agent=agent, run_id=run.pk, claim_id=uuid.uuid4())
    return finish_run(agent=agent, run_id=run.pk, report=RunReport(outcome="completed", exit_code=0, result=result))


def shop_traffic(start: float | None = None) -> tuple[list[RequestRecord], dict[str, list[float]]]:
    """Three request names with distinct loads, latencies and errors; also each name's latencies."""
    start = start or time.time() - 60
    records, latencies = [], {"home": [], "search": [], "login": []}
    for i in range(200):
        latency = 5.0 + (i % 50)  # 5 .. 54 ms
        records.append(RequestRecord(ts=start + i * 0.05, latency_ms=latency, status=200, name="home",
                                     method="GET"))
        latencies["home"].append(latency)
    for i in range(100):
        latency = 100.0 + i * 3  # 100 .. 397 ms
        records.append(RequestRecord(ts=start + i * 0.1, latency_ms=latency, status=200, name="search",
                                     method="GET"))
        latencies["search"].append(latency)
    for i in range(50):
        latency = 20.0 + i
        failed = i % 10 == 0  # 5 timeouts reported by the tool, on top of 7 HTTP 503s and 2 without a response
        status = 503 if 1 <= i <= 7 else 0 if i in (8, 9) else 200
        records.append(RequestRecord(ts=start + i * 0.2, latency_ms=latency, status=status, failed=failed,
                                     name="login", method="POST", error="request timeout" if failed else ""))
        latencies["login"].append(latency)
    return records, latencies


@pytest.fixture
def shop_run(acme):
    records, latencies = shop_traffic()
    result = measured(records, checks={"status is 200": (186, 14), "body has a cart": (200, 0)})
    return reported(acme, result), latencies


# --- requests ----------------------------------------------------------------------------------

def test_requests_are_busiest_first_with_counts_codes_and_exact_percentiles(api, acme_key, shop_run):
    run, latencies = shop_run
    rows = api.get(f"/api/runs/{run.pk}/requests", key=acme_key).json()

    assert [(r["name"], r["method"], r["count"]) for r in rows] == [
        ("home", "GET", 200), ("search", "GET", 100), ("login", "POST", 50)]
    home, search, login = rows
    assert set(home) == {"name", "method", "count", "errors", "errorRate", "statusCodes", "p50", "p90", "p95",
                         "p99", "avg", "min", "max", "throughput"}
    assert home["statusCodes"] == {"200": 200} and home["errors"] == 0 and home["errorRate"] == 0.0
    assert login["statusCodes"] == {"0": 2, "200": 41, "503": 7}
    assert login["errors"] == 14 and login["errorRate"] == pytest.approx(14 / 50)
    for row in rows:
        values = sorted(latencies[row["name"]])
        assert (row["min"], row["max"]) == (values[0], values[-1])
        assert row["avg"] == pytest.approx(sum(values) / len(values))
        for q in (50, 90, 95, 99):  # nearest rank, within the histogram's 0.1 %
            assert row[f"p{q}"] == pytest.approx(values[nearest_rank(q, len(values)) - 1], rel=0.001)
    assert search["throughput"] == pytest.approx(100 / (9.9 + 0.397), rel=0.001)  # over the name's own span
    # the run's own totals are the sum of its names
    assert api.get(f"/api/runs/{run.pk}", key=acme_key).json()["metrics"]["totalRequests"] == 350


def test_a_run_without_a_result_has_an_empty_breakdown(api, acme, acme_key):
    run = make_run(acme, make_monitor(acme), status=RunStatus.RUNNING)
    for endpoint in ("requests", "errors", "checks"):
        assert api.get(f"/api/runs/{run.pk}/{endpoint}", key=acme_key).json() == []
    assert api.get(f"/api/runs/{run.pk}/histogram", key=acme_key).json() == {"count": 0, "buckets": []}


def test_names_past_the_cap_are_counted_under_other_and_listed_last(api, acme, acme_key):
    builder = ResultBuilder(max_names=2)
    start = time.time() - 30
    for i, name in enumerate(["a"] * 3 + ["b"] * 2 + [f"/item/{n}" for n in range(10)]):
        builder.add(RequestRecord(ts=start + i * 0.1, latency_ms=10.0, status=200, name=name, method="GET"))
    run = reported(acme, builder.result())
    rows = api.get(f"/api/runs/{run.pk}/requests", key=acme_key).json()
    assert [(r["name"], r["method"], r["count"]) for r in rows] == [("a", "GET", 3), ("b", "GET", 2),
                                                                    ("other", "", 10)]


# --- errors ------------------------------------------------------------------------------------

def test_errors_by_name_and_cause_most_frequent_first_with_samples(api, acme_key, shop_run):
    run, _ = shop_run
    rows = api.get(f"/api/runs/{run.pk}/errors", key=acme_key).json()

    assert [(r["name"], r["method"], r["cause"], r["count"]) for r in rows] == [
        ("login", "POST", "HTTP 503", 7), ("login", "POST", "request timeout", 5),
        ("login", "POST", "no response", 2)]
    assert sum(r["count"] for r in rows) == 14
    timeout = rows[1]
    # The first five errors of the name are kept as samples; each row gets those of its cause.
    assert [s["status"] for s in timeout["samples"]] == [200]
    assert timeout["samples"][0]["message"] == "request timeout"
    assert [s["status"] for s in rows[0]["samples"]] == [503, 503, 503, 503]
    started = datetime.fromisoformat(timeout["samples"][0]["at"].replace("Z", "+00:00"))
    assert started.tzinfo is not None and abs((datetime.now(UTC) - started).total_seconds()) < 600
    assert rows[2]["samples"] == []  # past the first five errors of the name


# --- checks ------------------------------------------------------------------------------------

def test_checks_with_passes_fails_and_rate_failing_first(api, acme_key, shop_run):
    run, _ = shop_run
    assert api.get(f"/api/runs/{run.pk}/checks", key=acme_key).json() == [
        {"name": "status is 200", "passes": 186, "fails": 14, "rate": pytest.approx(0.93)},
        {"name": "body has a cart", "passes": 200, "fails": 0, "rate": 1.0},
    ]


# --- histogram ---------------------------------------------------------------------------------

def test_histogram_buckets_are_log_spaced_and_their_counts_exact(api, acme_key, shop_run):
    run, latencies = shop_run
    body = api.get(f"/api/runs/{run.pk}/histogram", key=acme_key).json()
    everything = sorted(v for values in latencies.values() for v in values)

    assert body["count"] == sum(b["count"] for b in body["buckets"]) == len(everything) == 350
    buckets = body["buckets"]
    assert len(buckets) == 30
    assert buckets[0]["fromMs"] <= everything[0] and buckets[-1]["toMs"] >= everything[-1]
    assert all(a["toMs"] == b["fromMs"] for a, b in zip(buckets, buckets[1:], strict=False))
    ratios = [b["toMs"] / b["fromMs"] for b in buckets]
    assert max(ratios) / min(ratios) < 1.02  # log-spaced: the same ratio from edge to edge (3 digits)
    for bucket in buckets[1:]:  # away from the edges' 0.1 %, each sample is where its latency says
        inside = [v for v in everything if bucket["fromMs"] * 1.001 < v <= bucket["toMs"] * 0.999]
        near = [v for v in everything if bucket["fromMs"] * 0.999 < v <= bucket["toMs"] * 1.001]
        assert len(inside) <= bucket["count"] <= len(near)


def test_histogram_counts_fall_into_the_ranges_the_latencies_lie_in(api, acme, acme_key):
    start = time.time() - 30
    records = [RequestRecord(ts=start + i * 0.01, latency_ms=1.0 if i < 120 else 1000.0, status=200, name="x")
               for i in range(200)]
    run = reported(acme, measured(records))
    body = api.get(f"/api/runs/{run.pk}/histogram?buckets=3", key=acme_key).json()
    assert [(b["fromMs"], b["toMs"], b["count"]) for b in body["buckets"]] == [
        (1.0, 10.0, 120), (10.0, 100.0, 0), (100.0, 1000.0, 80)]
    one = api.get(f"/api/runs/{run.pk}/histogram?buckets=1", key=acme_key).json()
    assert [b["count"] for b in one["buckets"]] == [200]


def test_histogram_of_one_latency_is_one_bucket(api, acme, acme_key):
    start = time.time() - 30
    run = reported(acme, measured([RequestRecord(ts=start + i, latency_ms=42.0, status=200) for i in range(5)]))
    body = api.get(f"/api/runs/{run.pk}/histogram?buckets=50", key=acme_key).json()
    assert body["count"] == 5 and [b["count"] for b in body["buckets"]] == [5]
    assert body["buckets"][0]["fromMs"] <= 42.0 <= body["buckets"][0]["toMs"]


@pytest.mark.parametrize("bad", ["0", "101", "x", "-2", "2.5", ""])
def test_histogram_rejects_a_bucket_count_out_of_range(api, acme, acme_key, bad):
    run = make_run(acme, make_monitor(acme))
    body = assert_envelope(api.get(f"/api/runs/{run.pk}/histogram?buckets={bad}", key=acme_key), 400,
                           "invalid_request")
    assert "buckets" in body["details"]


# --- split runs --------------------------------------------------------------------------------

@pytest.fixture
def split_run(acme):
    """A run split over two agents: each part's breakdown, and the run's the merge of both."""
    start = time.time() - 60
    results = []
    for latency, errors in ((10.0, 0), (90.0, 3)):
        records = [RequestRecord(ts=start + i * 0.05, latency_ms=latency, status=500 if i < errors else 200,
                                 name="home", method="GET") for i in range(40)]
        results.append(measured(records, checks={"ok": (40 - errors, errors)}))
    merged = Result.merge(*results)
    run = make_run(acme, make_monitor(acme), metrics={"count": merged.count})
    Run.all_tenants.filter(pk=run.pk).update(distribution={"agents": 2}, histogram=merged.histogram,
                                             **breakdown(merged))
    for index, result in enumerate(results):
        RunPart.all_tenants.create(run=run, index=index, share="1/2", status="completed",
                                   histogram=result.histogram, **breakdown(result))
    return run


def test_a_split_runs_breakdown_is_the_merge_and_each_part_its_own(api, acme_key, split_run):
    url = f"/api/runs/{split_run.pk}"
    merged = api.get(f"{url}/requests", key=acme_key).json()[0]
    first = api.get(f"{url}/requests?part=0", key=acme_key).json()[0]
    second = api.get(f"{url}/requests?part=1", key=acme_key).json()[0]
    assert (merged["count"], first["count"], second["count"]) == (80, 40, 40)
    assert (merged["errors"], first["errors"], second["errors"]) == (3, 0, 3)
    assert first["p99"] == pytest.approx(10.0, rel=0.001) and merged["p99"] == pytest.approx(90.0, rel=0.001)
    assert api.get(f"{url}/errors?part=0", key=acme_key).json() == []
    assert api.get(f"{url}/errors?part=1", key=acme_key).json()[0]["count"] == 3
    assert api.get(f"{url}/checks", key=acme_key).json() == [{"name": "ok", "passes": 77, "fails": 3,
                                                              "rate": pytest.approx(77 / 80)}]
    assert api.get(f"{url}/histogram?part=1", key=acme_key).json()["count"] == 40
    assert api.get(f"{url}/histogram", key=acme_key).json()["count"] == 80


@pytest.mark.parametrize("endpoint", BREAKDOWN)
def test_a_part_that_is_no_index_is_a_400_and_one_the_run_does_not_have_a_404(api, acme, acme_key, split_run,
                                                                               endpoint):
    for bad in ("x", "-1", "", "\u00b2", "10"):  # "²" is a digit to str.isdigit; 10 parts at most
        body = assert_envelope(api.get(f"/api/runs/{split_run.pk}/{endpoint}?part={bad}", key=acme_key), 400)
        assert "part" in body["details"]
    assert_envelope(api.get(f"/api/runs/{split_run.pk}/{endpoint}?part=2", key=acme_key), 404, "not_found")
    single = make_run(acme, make_monitor(acme))
    assert_envelope(api.get(f"/api/runs/{single.pk}/{endpoint}?part=0", key=acme_key), 404, "not_found")


# --- every breakdown endpoint ---------------------------------------------------------------------

@pytest.mark.parametrize("endpoint", BREAKDOWN)
def test_another_tenants_or_an_unknown_run_is_a_404(api, acme_key, globex_key, shop_run, endpoint):
    run, _ = shop_run
    assert_envelope(api.get(f"/api/runs/{run.pk}/{endpoint}", key=globex_key), 404, "not_found")
    assert_envelope(api.get(f"/api/runs/{run.pk}/{endpoint}?part=0", key=globex_key), 404, "not_found")
    assert_envelope(api.get(f"/api/runs/{uuid.uuid4()}/{endpoint}", key=acme_key), 404, "not_found")
    assert_envelope(api.get(f"/api/runs/not-a-uuid/{endpoint}", key=acme_key), 404, "not_found")


@pytest.mark.parametrize("endpoint", BREAKDOWN)
def test_queries_do_not_grow_with_the_number_of_request_names(api, acme, acme_key, endpoint):
    start = time.time() - 60

    def run_with(names: int) -> Run:
        records = [RequestRecord(ts=start + i * 0.01, latency_ms=5.0 + i % 7, status=500 if i % 5 == 0 else 200,
                                 name=f"/page/{i % names}", error="boom" if i % 5 == 0 else "")
                   for i in range(names * 4)]
        return reported(acme, measured(records, checks={f"check {n}": (3, 1) for n in range(names)}))

    counts = []
    api.get("/api/runs", key=acme_key)  # the key's last use is written at most once a minute: not measured
    for run in (run_with(1), run_with(150)):
        with CaptureQueriesContext(connection) as queries:
            assert api.get(f"/api/runs/{run.pk}/{endpoint}", key=acme_key).status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1] <= 3, counts  # the key, the run


def test_a_stored_breakdown_that_is_not_well_formed_never_fails_the_answer(api, acme, acme_key):
    run = make_run(acme, make_monitor(acme))
    Run.all_tenants.filter(pk=run.pk).update(
        requests=[{"name": "partial", "count": "12", "errors": 2, "causes": {"boom": 2}, "p95_ms": "fast",
                   "samples": [{"ts": "yesterday", "cause": "boom"}, "junk"]}, "junk", 7],
        checks={"odd": "not an object", "fine": {"passes": 1, "fails": 1}}, histogram="not a histogram",
    )
    rows = api.get(f"/api/runs/{run.pk}/requests", key=acme_key).json()
    assert [(r["name"], r["count"], r["errors"], r["p95"], r["statusCodes"]) for r in rows] == [
        ("partial", 12, 2, None, {})]
    errors = api.get(f"/api/runs/{run.pk}/errors", key=acme_key).json()
    assert errors == [{"name": "partial", "method": "", "cause": "boom", "count": 2,
                       "samples": [{"at": None, "status": 0, "message": ""}]}]
    assert api.get(f"/api/runs/{run.pk}/checks", key=acme_key).json() == [
        {"name": "fine", "passes": 1, "fails": 1, "rate": 0.5}, {"name": "odd", "passes": 0, "fails": 0, "rate": None}]
    assert api.get(f"/api/runs/{run.pk}/histogram", key=acme_key).json() == {"count": 0, "buckets": []}
    Run.all_tenants.filter(pk=run.pk).update(requests={"not": "a list"}, checks=["not", "a", "map"])
    assert api.get(f"/api/runs/{run.pk}/requests", key=acme_key).json() == []
    assert api.get(f"/api/runs/{run.pk}/checks", key=acme_key).json() == []


# --- compare -----------------------------------------------------------------------------------

def _figure(figures: list[dict], metric: str) -> dict:
    return next(f for f in figures if f["metric"] == metric)


def test_compare_shows_runs_side_by_side_with_the_change_from_the_first(api, acme, acme_key):
    start = time.time() - 60
    before = measured([RequestRecord(ts=start + i * 0.1, latency_ms=100.0, status=200, name="home", method="GET")
                       for i in range(100)])
    after_records = [RequestRecord(ts=start + i * 0.1, latency_ms=150.0, status=500 if i < 10 else 200,
                                   name="home", method="GET") for i in range(100)]
    after_records += [RequestRecord(ts=start + i, latency_ms=30.0, status=200, name="new", method="POST")
                      for i in range(20)]
    first, second = reported(acme, before), reported(acme, measured(after_records))

    body = api.get(f"/api/runs/compare?ids={first.pk},{second.pk}", key=acme_key).json()

    assert [r["id"] for r in body["runs"]] == [str(first.pk), str(second.pk)]
    assert body["runs"][0]["metrics"]["totalRequests"] == 100
    p50 = _figure(body["metrics"], "p50")
    assert p50["values"] == [pytest.approx(100.0, rel=0.001), pytest.approx(150.0, rel=0.001)]
    assert p50["changes"][0] is None and p50["changes"][1] == pytest.approx(0.5, rel=0.01)
    assert _figure(body["metrics"], "totalRequests") == {"metric": "totalRequests", "values": [100, 120],
                                                         "changes": [None, pytest.approx(0.2)]}
    rate = _figure(body["metrics"], "errorRate")
    assert rate["values"] == [0.0, pytest.approx(10 / 120)] and rate["changes"] == [None, None]  # from 0: no ratio
    assert {f["metric"] for f in body["metrics"]} == {"p50", "p95", "p99", "avg", "min", "max", "errorRate",
                                                      "throughput", "totalRequests", "apdex"}

    assert [(r["name"], r["method"]) for r in body["requests"]] == [("home", "GET"), ("new", "POST")]
    home, new = body["requests"]
    assert _figure(home["metrics"], "errors") == {"metric": "errors", "values": [0, 10], "changes": [None, None]}
    assert _figure(home["metrics"], "p95")["changes"][1] == pytest.approx(0.5, rel=0.01)
    assert _figure(new["metrics"], "count") == {"metric": "count", "values": [None, 20], "changes": [None, None]}
    assert {f["metric"] for f in home["metrics"]} == {"count", "errors", "errorRate", "p50", "p90", "p95", "p99",
                                                      "avg", "min", "max", "throughput"}


def test_compare_takes_three_runs_and_reads_them_in_one_query(api, acme, acme_key):
    start = time.time() - 60
    runs = [reported(acme, measured([RequestRecord(ts=start + i, latency_ms=10.0 * (n + 1), status=200,
                                                   name=f"name {i % (n * 40 + 1)}") for i in range(40)]))
            for n in range(3)]
    ids = ",".join(str(run.pk) for run in runs)
    api.get("/api/runs", key=acme_key)  # the key's last use is written at most once a minute: not measured
    with CaptureQueriesContext(connection) as queries:
        body = api.get(f"/api/runs/compare?ids={ids}", key=acme_key).json()
    p50 = _figure(body["metrics"], "p50")
    assert p50["values"] == [pytest.approx(10.0 * (n + 1), rel=0.001) for n in range(3)]
    assert p50["changes"] == [None, pytest.approx(1.0, rel=0.01), pytest.approx(2.0, rel=0.01)]
    assert len(body["requests"]) == 40  # "name 0" .. "name 39"
    two = ",".join(str(run.pk) for run in runs[:2])
    with CaptureQueriesContext(connection) as fewer:
        api.get(f"/api/runs/compare?ids={two}", key=acme_key)
    assert len(queries) == len(fewer) <= 3  # the key, the runs


@pytest.mark.parametrize("ids", ["", "{a}", "{a},{a}", "{a},,", ",", "{a},{b},{c},{d}"])
def test_compare_needs_two_or_three_distinct_ids(api, acme, acme_key, ids):
    runs = {name: str(make_run(acme, make_monitor(acme)).pk) for name in "abcd"}
    query = ids.format(**runs)
    body = assert_envelope(api.get(f"/api/runs/compare?ids={query}", key=acme_key), 400, "invalid_request")
    assert "ids" in body["details"]
    assert_envelope(api.get("/api/runs/compare", key=acme_key), 400, "invalid_request")  # not taken for a run id


def test_compare_with_another_tenants_or_an_unknown_run_is_a_404(api, acme, globex, acme_key, globex_key):
    mine = make_run(acme, make_monitor(acme))
    theirs = make_run(globex, make_monitor(globex))
    for ids in (f"{mine.pk},{theirs.pk}", f"{theirs.pk},{mine.pk}", f"{mine.pk},{uuid.uuid4()}",
                f"{mine.pk},not-a-uuid"):
        assert_envelope(api.get(f"/api/runs/compare?ids={ids}", key=acme_key), 404, "not_found")
    body = assert_envelope(api.get(f"/api/runs/compare?ids={mine.pk},{theirs.pk}", key=globex_key), 404)
    assert str(mine.pk) in body["message"]


def test_compare_of_runs_without_results_has_null_figures(api, acme, acme_key):
    first, second = (make_run(acme, make_monitor(acme), status=RunStatus.QUEUED) for _ in range(2))
    body = api.get(f"/api/runs/compare?ids={first.pk},{second.pk}", key=acme_key).json()
    assert body["requests"] == []
    assert all(f["values"] == [None, None] and f["changes"] == [None, None] for f in body["metrics"])


def test_relative_change_is_none_without_a_base():
    from perfmon.api.monitor.breakdown import relative_change

    assert relative_change(15.0, 10.0) == pytest.approx(0.5)
    assert relative_change(5.0, 10.0) == pytest.approx(-0.5)
    assert relative_change(5.0, 0.0) is None and relative_change(None, 1.0) is None
    assert not math.isnan(relative_change(0.0, 3.0))


def test_histogram_buckets_add_up_for_latencies_across_the_whole_range():
    from perfmon.api.monitor.breakdown import histogram_buckets

    hist = LatencyHistogram()
    for exponent in range(-3, 7):  # 1 us .. 1000 s
        hist.record(10.0 ** exponent, count=exponent + 4)
    body = histogram_buckets(hist, 100)
    assert sum(b["count"] for b in body["buckets"]) == body["count"] == hist.count
    assert body["buckets"][0]["from_ms"] <= 0.001
    assert body["buckets"][-1]["to_ms"] >= 1_000_000.0
    assert all(b["from_ms"] < b["to_ms"] for b in body["buckets"])
