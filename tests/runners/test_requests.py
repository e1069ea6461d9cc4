"""The per-request breakdown (runners.requests): per name counts, status codes, causes, exact
percentiles, the cardinality cap, merging across parts, and a real k6 run with three names."""

from __future__ import annotations

import json
import random
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from runners import get_adapter
from runners.adapters.base import RunSpec
from runners.builder import ResultBuilder
from runners.records import RequestRecord
from runners.requests import MAX_CAUSES, MAX_SAMPLES, OTHER, OTHER_CAUSE, RequestTable, merge_entries
from runners.result import Result
from tests.runners import proc
from tests.runners.conftest import require_tool
from tests.runners.exact import assert_within_hdr, exact_percentile

K6 = get_adapter("k6")


def records(name, latencies, *, status=200, method="GET", error="", start=1_700_000_000.0):
    return [RequestRecord(ts=start + i * 0.01, latency_ms=ms, status=status, name=name, method=method,
                          error=error) for i, ms in enumerate(latencies)]


def by_name(result: Result) -> dict:
    return {entry.name: entry for entry in result.requests}


def test_each_name_has_its_own_exact_figures():
    rng = random.Random(7)
    fast = [rng.uniform(1, 9) for _ in range(500)]
    slow = [rng.uniform(40, 60) for _ in range(120)]
    builder = ResultBuilder()
    for record in [*records("fast", fast), *records("slow", slow, method="POST"),
                   *records("broken", [3.0] * 30, status=503)]:
        builder.add(record)
    entries = by_name(builder.result())

    assert list(entries) == ["fast", "slow", "broken"]  # busiest first
    for name, values in (("fast", fast), ("slow", slow)):
        entry = entries[name]
        assert entry.count == len(values) and entry.errors == 0 and entry.status_codes == {"200": len(values)}
        for q in (50, 90, 95, 99):
            assert_within_hdr(getattr(entry, f"p{q}_ms"), exact_percentile(values, q), f"{name} p{q}")
        assert (entry.min_ms, entry.max_ms) == (min(values), max(values))
    assert entries["slow"].method == "POST"
    broken = entries["broken"]
    assert (broken.errors, broken.status_codes, broken.causes) == (30, {"503": 30}, {"HTTP 503": 30})
    assert len(broken.samples) == MAX_SAMPLES and broken.samples[0]["status"] == 503
    assert sum(e.count for e in entries.values()) == builder.result().count


def test_errors_are_counted_by_the_tools_message_and_causes_are_bounded():
    table = RequestTable()
    for record in records("login", [5.0] * 4, status=0, error="dial tcp: connection refused"):
        table.add(record)
    for i in range(MAX_CAUSES + 5):
        table.add(RequestRecord(ts=1.0, latency_ms=1.0, status=500, name="login", method="GET", error=f"cause {i}"))
    (entry,) = table.entries()
    assert entry.causes["dial tcp: connection refused"] == 4
    assert len(entry.causes) == MAX_CAUSES + 1 and entry.causes[OTHER_CAUSE] == 6
    assert entry.samples[0]["message"] == "dial tcp: connection refused"


def test_names_past_the_cap_are_counted_under_other():
    builder = ResultBuilder(max_names=300)
    for i in range(10_000):  # a script that puts ids in its URLs
        builder.add(RequestRecord(ts=1_700_000_000 + i * 0.001, latency_ms=2.0, status=200,
                                  name=f"http://127.0.0.1/items/{i}", method="GET"))
    result = builder.result()
    assert len(result.requests) == 301
    other = by_name(result)[OTHER]
    assert other.count == 10_000 - 300
    assert sum(entry.count for entry in result.requests) == result.count == 10_000


def test_parts_merge_into_the_entries_of_all_their_requests():
    rng = random.Random(3)
    samples = {part: {"fast": [rng.uniform(1, 9) for _ in range(300)],
                      "slow": [rng.uniform(30 + 20 * part, 50 + 20 * part) for _ in range(80)]} for part in (0, 1)}
    results = []
    for named in samples.values():
        builder = ResultBuilder()
        for name, values in named.items():
            for record in records(name, values, status=200 if name == "fast" else 500):
                builder.add(record)
        results.append(builder.result())

    merged = Result.merge(*results)
    round_tripped = Result.from_dict(json.loads(json.dumps(merged.to_dict())))

    for result in (merged, round_tripped):
        entries = by_name(result)
        for name in ("fast", "slow"):
            pooled = samples[0][name] + samples[1][name]
            entry = entries[name]
            assert entry.count == len(pooled)
            for q in (50, 90, 95, 99):
                assert_within_hdr(getattr(entry, f"p{q}_ms"), exact_percentile(pooled, q), f"{name} p{q}")
            assert entry.max_ms == max(pooled)
        assert entries["slow"].status_codes == {"500": 160} and entries["slow"].causes == {"HTTP 500": 160}
    assert merge_entries(results[0].requests, max_names=1)[-1].name == OTHER


def test_a_result_without_breakdown_still_reads():
    data = ResultBuilder().result().to_dict()
    del data["requests"], data["checks"]  # an older agent's result
    result = Result.from_dict(data)
    assert result.requests == () and result.checks == {}


# --- a real k6 run ---------------------------------------------------------------------------

SCRIPT = """
import http from 'k6/http';
import { check, sleep } from 'k6';
import exec from 'k6/execution';
export const options = { scenarios: { mix: { executor: 'shared-iterations', vus: 3, iterations: 60 } } };
export default function () {
  const base = __ENV.TARGET;
  const ok = http.get(`${base}/ok`, { tags: { name: 'home' } });
  check(ok, { 'home is 200': (r) => r.status === 200 });
  const n = exec.scenario.iterationInTest;
  if (n % 2 === 0) { http.get(`${base}/slow?ms=30`, { tags: { name: 'report' } }); }
  if (n % 3 === 0) {
    const bad = http.post(`${base}/fail`, 'x', { tags: { name: 'login' } });
    check(bad, { 'login is 200': (r) => r.status === 200 });
  }
  sleep(0.1);  // about 2 s in all, so k6 samples its VUs (once a second)
}
"""

PATHS = {"home": "/ok", "report": "/slow", "login": "/fail"}


def k6_raw(path: Path) -> tuple[dict, Counter]:
    """Each name's durations and the checks' outcomes, read from k6's raw NDJSON with plain json."""
    durations, checks = defaultdict(list), Counter()
    for line in path.read_text().splitlines():
        obj = json.loads(line)
        if obj["type"] != "Point":
            continue
        tags = obj["data"]["tags"]
        if obj["metric"] == "http_req_duration":
            durations[tags["name"]].append((obj["data"]["value"], int(tags["status"]), tags["method"]))
        elif obj["metric"] == "checks":
            checks[(tags["check"], obj["data"]["value"] > 0)] += 1
    return durations, checks


def test_k6_run_gives_each_request_name_exact_figures(tmp_path, target):
    k6 = require_tool("k6")
    script = tmp_path / K6.script_filename
    script.write_text(SCRIPT)
    spec = RunSpec(work_dir=tmp_path, script_path=script, parameters={"TARGET": target.base_url}, tool_path=k6)
    command = K6.prepare(spec)
    running = proc.start(command)
    assert K6.classify_exit(running.wait(timeout=120)).ok, running.log()[-2000:]
    result = K6.reader(spec).finish()
    raw, raw_checks = k6_raw(Path(command.output_path))
    served = Counter(s.path for s in target.served())

    entries = by_name(result)
    assert set(entries) == {"home", "report", "login"}
    for name, samples in raw.items():
        entry = entries[name]
        assert entry.count == len(samples) == served[PATHS[name]]
        assert entry.status_codes == {str(s): n for s, n in Counter(st for _, st, _ in samples).items()}
        assert entry.method == samples[0][2]
        values = [ms for ms, _, _ in samples]
        for q in (50, 90, 95, 99):
            assert_within_hdr(getattr(entry, f"p{q}_ms"), exact_percentile(values, q), f"{name} p{q}")
    assert entries["login"].errors == entries["login"].count == 20 and entries["login"].method == "POST"
    assert entries["login"].causes == {"HTTP 500": 20}
    assert entries["home"].errors == 0 and entries["report"].p50_ms >= 30
    assert result.checks == {
        "home is 200": {"passes": raw_checks[("home is 200", True)], "fails": raw_checks[("home is 200", False)]},
        "login is 200": {"passes": 0, "fails": raw_checks[("login is 200", False)]},
    }
    assert result.checks["home is 200"]["passes"] == 60 and result.checks["login is 200"]["fails"] == 20
    # Load level and p90 over time: k6's vus samples land in the series beside the percentiles.
    assert max(point.vus or 0 for point in result.series) == 3
    assert all(point.p50_ms <= point.p90_ms <= point.p95_ms for point in result.series if point.count)


def test_vus_samples_go_to_their_interval_and_add_up_across_parts():
    parts = []
    for vus in (2, 3):
        builder = ResultBuilder()
        builder.add_vus(1_700_000_000.2, vus)  # before the first request: counts in the first interval
        for second in range(3):
            builder.add(RequestRecord(ts=1_700_000_000.1 + second, latency_ms=600.0, status=200, name="a"))
            builder.add_vus(1_700_000_000.5 + second, vus + second)
        builder.add_vus(1_700_000_009.0, 99)  # after the last request: opens nothing
        parts.append(builder.result())
    assert [p.vus for p in parts[0].series] == [2, 3, 4]
    assert len(parts[1].series) == 3
    assert [p.vus for p in Result.merge(*parts).series] == [5, 7, 9]


# --- thresholds of one request name ------------------------------------------------------

def test_a_threshold_of_one_request_name_judges_that_names_own_figures():
    from runners.errors import InvalidSettings
    from runners.thresholds import evaluate
    from runners.validation import clean_thresholds

    builder = ResultBuilder()
    for record in [*records("home", [5.0] * 95), *records("login", [400.0] * 5, method="POST"),
                   *records("login", [420.0], method="GET", status=500)]:
        builder.add(record)
    result = builder.result()
    thresholds = clean_thresholds({"latencyMs": 1000, "requests": {
        "login": {"latencyMs": "300", "errorRatePercent": 10}, "home": {"latencyMs": 50}, "absent": {"latencyMs": 1}}})

    breaches = [b.to_dict() for b in evaluate(result, thresholds)]

    assert thresholds["requests"]["login"] == {"latencyMs": 300, "errorRatePercent": 10}
    assert breaches == [  # the run's p95 (400 ms) is within 1000; login's own figures are not
        {"metric": "latencyMs", "threshold": 300.0, "actual": 420.0, "request": "login"},
        {"metric": "errorRatePercent", "threshold": 10.0, "actual": pytest.approx(100 / 6), "request": "login"},
    ]
    for bad, key in (({"requests": {"login": {"apdexMin": 0.5}}}, "requests.login.apdexMin"),
                     ({"requests": {"login": {"latencyMs": -1}}}, "requests.login.latencyMs"),
                     ({"requests": {"": {"latencyMs": 1}}}, "requests."),
                     ({"requests": ["login"]}, "requests")):
        try:
            clean_thresholds(bad)
        except InvalidSettings as exc:
            assert key in exc.errors, exc.errors
        else:
            raise AssertionError(f"{bad} was accepted")


CARDINALITY_SCRIPT = """
import http from 'k6/http';
import exec from 'k6/execution';
export const options = { scenarios: { ids: { executor: 'shared-iterations', vus: 8, iterations: 10000,
                                             maxDuration: '120s' } } };
export default function () {
  http.get(`${__ENV.TARGET}/ok?item=${exec.scenario.iterationInTest}`);  // a new URL, so a new name, every time
}
"""


def test_a_script_requesting_10000_distinct_urls_is_capped_with_every_request_counted(tmp_path, target):
    k6 = require_tool("k6")
    script = tmp_path / K6.script_filename
    script.write_text(CARDINALITY_SCRIPT)
    spec = RunSpec(work_dir=tmp_path, script_path=script, parameters={"TARGET": target.base_url}, tool_path=k6)
    command = K6.prepare(spec)
    running = proc.start(command)
    assert K6.classify_exit(running.wait(timeout=240)).ok, running.log()[-2000:]
    result = K6.reader(spec).finish()

    assert result.count == 10_000 == len(target.served())
    assert len(result.requests) == 301  # the first 300 names, then everything else under "other"
    other = by_name(result)[OTHER]
    assert other.count == 10_000 - 300 and other.status_codes == {"200": 9_700}
    assert sum(entry.count for entry in result.requests) == 10_000
    assert len(json.dumps([entry.to_dict() for entry in result.requests])) < 2_000_000  # bounded storage


def test_the_cap_on_request_names_comes_from_the_run_spec(tmp_path):
    spec = RunSpec(work_dir=tmp_path, script_path=tmp_path / "script.js", max_request_names=2)
    reader = K6.reader(spec)
    for i in range(5):
        reader.builder.add(RequestRecord(ts=1_700_000_000 + i, latency_ms=1.0, status=200, name=f"/items/{i}"))
    assert [entry.name for entry in reader.builder.result().requests] == ["/items/0", "/items/1", OTHER]
