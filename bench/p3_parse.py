"""P3, parse: the tools' raw-output readers (runners/adapters) against plain line reading, in the same process.

    .venv/bin/python bench/p3_parse.py [--quick]

Three generated files, each shaped like the real tool's output (the k6 lines
copy what k6 1.x writes with ``--out json``, the JTL what JMeter 5.6 writes
with the adapter's result properties), written into a temporary directory
and deleted at the end:

* ``k6 mix``: 1,000,000 lines of a realistic k6 run (20 VUs, about 1,300
  requests a second): a ``Metric`` line before each metric's first sample,
  then per request its nine Points (``http_reqs``, ``http_req_duration``,
  ``http_req_blocked``, ``_connecting``, ``_tls_handshaking``, ``_sending``,
  ``_waiting``, ``_receiving``, ``http_req_failed``) tagged as k6 tags them
  (name, method, status, url, expected_response, error_code and error for
  failures and connection errors), a ``checks`` Point in every fourth
  iteration, four Points per iteration (``data_sent``, ``data_received``,
  ``iteration_duration``, ``iterations``) and ``vus``/``vus_max`` each
  second. About 75,000 requests, 13 lines each, as a real 1 M-line file
  holds (issue 17 measured 76,912).
* ``k6 durations``: 1,000,000 ``http_req_duration`` Point lines only.
* ``JTL``: a 1,000,000-row CSV JTL with JMeter's header (the columns
  runners/adapters/jmeter.py asks for), a mix of 200s, 500s, assertion
  failures, connection errors, quoted labels and, rarely, a failure message
  spanning lines.

Each reader is driven as ``python -m runners summarize`` drives it, the
adapter's ``file_reader(path).finish()``: the whole file read in 1 MB chunks
to the end. The baselines: reading the file's lines and nothing else (``for
line in f`` in binary), for the duration-only file a naive parser
(``json.loads`` of each line, collect the durations, sort them), for the JTL
one ``csv.reader`` over the file collecting and sorting ``elapsed``. Every
figure is the best of three rounds (the machine's other load only ever slows
a round down), reader and baseline interleaved.
``ratio`` is points_per_s / readlines_per_s (goal ≥ 0.5), ``peak_rss_mb``
the peak RSS of a child process that parses the 1 M-line k6 file and nothing
else (goal ≤ 100 MB; ``interpreter_rss_mb`` is that child's RSS before it
parses). The parse is checked: request, error and check counts equal what
was generated, and the reader's p95 is within the histogram's 0.1 % of the
exact p95 of the generated latencies.
"""

from __future__ import annotations

import csv
import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ROOT, machine, peak_rss_mb, percentile, script_main  # noqa: E402

CHILD_FLAG = "--rss-child"
T0 = 1_795_396_500  # 2026-11-23T01:15:00Z, a whole second
VUS = 20
REQUEST_RATE = 1300.0  # requests a second across all VUs
JTL_RATE = 2000.0  # samples a second

REQUEST_KINDS = (
    # (weight, name tag or None for an unnamed request, method, url)
    (45, "home", "GET", "http://127.0.0.1:18080/"),
    (20, "login", "POST", "http://127.0.0.1:18080/login"),
    (25, "api items", "GET", "http://127.0.0.1:18080/api/items?page=1"),
    (10, None, "GET", "http://127.0.0.1:18080/static/app.js"),
)
TIMING_METRICS = ("http_req_blocked", "http_req_connecting", "http_req_tls_handshaking", "http_req_sending",
                  "http_req_waiting", "http_req_receiving")
METRIC_TYPES = {
    "http_reqs": "counter", "http_req_duration": "trend", **dict.fromkeys(TIMING_METRICS, "trend"),
    "http_req_failed": "rate", "checks": "rate", "data_sent": "counter", "data_received": "counter",
    "iteration_duration": "trend", "iterations": "counter", "vus": "gauge", "vus_max": "gauge",
}
CHECK = "status is 200"


def _k6_time(t: float, _heads: dict[int, str] = {}) -> str:  # noqa: B006 - deliberate memo
    """RFC 3339 with nanoseconds and Z, as k6 writes it."""
    whole = int(t)
    head = _heads.get(whole)
    if head is None:
        head = _heads[whole] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))
    return f"{head}.{int((t - whole) * 1e9):09d}Z"


def _k6_tags(name: str | None, method: str, url: str, status: int, error: str, error_code: str) -> str:
    tags = {}
    if error:
        tags["error"] = error
    if error_code:
        tags["error_code"] = error_code
    tags["expected_response"] = "true" if 200 <= status < 400 else "false"
    tags["group"] = ""
    tags["method"] = method
    tags["name"] = name if name is not None else url
    tags["proto"] = "HTTP/1.1" if status else ""
    tags["scenario"] = "default"
    tags["status"] = str(status)
    tags["url"] = name if name is not None else url
    return json.dumps(tags, separators=(",", ":"))


def write_k6_mix(path: Path, lines: int, seed: int = 3) -> dict:
    """A k6 ``--out json`` file of about ``lines`` lines (whole iterations); what it holds."""
    rng = random.Random(seed)
    kinds = [kind for kind in REQUEST_KINDS for _ in range(kind[0])]
    tag_cache: dict[tuple, str] = {}
    seen_metrics: set[str] = set()
    written = requests = errors = passes = fails = 0
    durations: list[float] = []
    names: set[str] = set()
    t = float(T0) + 0.25
    next_vus_at = T0 + 1
    iteration = 0
    out = []

    def point(metric: str, when: str, value, tags: str) -> None:
        nonlocal written
        if metric not in seen_metrics:
            seen_metrics.add(metric)
            out.append(f'{{"type":"Metric","data":{{"name":"{metric}","type":"{METRIC_TYPES[metric]}",'
                       f'"contains":"{"time" if METRIC_TYPES[metric] == "trend" else "default"}",'
                       f'"thresholds":[],"submetrics":null}},"metric":"{metric}"}}\n')
            written += 1
        out.append(f'{{"metric":"{metric}","type":"Point","data":{{"time":"{when}","value":{value},"tags":{tags}}}}}\n')
        written += 1

    with open(path, "w", encoding="utf-8") as f:
        while written < lines:
            if t >= next_vus_at:
                when = _k6_time(next_vus_at + 0.000781)
                point("vus", when, VUS, "{}")
                point("vus_max", when, VUS, "{}")
                next_vus_at += 1
            _, name, method, url = rng.choice(kinds)
            roll = rng.random()
            if roll < 0.003:
                status, error, code = 0, "dial tcp 127.0.0.1:18080: connect: connection refused", "1212"
            elif roll < 0.023:
                status, error, code = 500, "", "1500"
            elif roll < 0.028:
                status, error, code = 404, "", "1404"
            else:
                status, error, code = 200, "", ""
            key = (name, method, url, status, error, code)
            tags = tag_cache.get(key)
            if tags is None:
                tags = tag_cache[key] = _k6_tags(*key)
            duration = round(rng.lognormvariate(2.8, 0.7), 6) if status else 0
            waiting = round(duration * 0.93, 6)
            when = _k6_time(t)
            point("http_reqs", when, 1, tags)
            point("http_req_duration", when, duration, tags)
            for metric, value in zip(TIMING_METRICS, (round(rng.random() * 0.02, 6), 0, 0, 0.021342, waiting,
                                                      round(duration - waiting, 6)), strict=True):
                point(metric, when, value, tags)
            failed = not 200 <= status < 400
            point("http_req_failed", when, 1 if failed else 0, tags)
            requests += 1
            errors += failed
            durations.append(float(duration))
            names.add(name if name is not None else url)
            iteration += 1
            end = _k6_time(t + 0.0004)
            if iteration % 4 == 0:
                ok = status == 200
                passes += ok
                fails += not ok
                point("checks", end, 1 if ok else 0, '{"check":"' + CHECK + '","group":"","scenario":"default"}')
            plain = '{"group":"","scenario":"default"}'
            point("data_sent", end, 170, plain)
            point("data_received", end, 351 if status else 0, plain)
            point("iteration_duration", end, round(duration + 0.5, 6), plain)
            point("iterations", end, 1, plain)
            t += rng.expovariate(REQUEST_RATE)
            if len(out) >= 4096:
                f.write("".join(out))
                out.clear()
        f.write("".join(out))
    return {"lines": written, "requests": requests, "errors": errors, "checks": {CHECK: {"passes": passes,
            "fails": fails}}, "names": len(names), "p95_ms": percentile(durations, 95)}


def write_k6_durations(path: Path, lines: int, seed: int = 5) -> dict:
    """``lines`` http_req_duration Point lines (one name, all 200) and their durations."""
    rng = random.Random(seed)
    tags = _k6_tags("home", "GET", "http://127.0.0.1:18080/", 200, "", "")
    durations = []
    t = float(T0) + 0.25
    out = []
    with open(path, "w", encoding="utf-8") as f:
        for _ in range(lines):
            duration = round(rng.lognormvariate(2.8, 0.7), 6)
            durations.append(duration)
            out.append(f'{{"metric":"http_req_duration","type":"Point","data":{{"time":"{_k6_time(t)}",'
                       f'"value":{duration},"tags":{tags}}}}}\n')
            t += rng.expovariate(REQUEST_RATE)
            if len(out) >= 4096:
                f.write("".join(out))
                out.clear()
        f.write("".join(out))
    return {"lines": lines, "requests": lines, "errors": 0, "p95_ms": percentile(durations, 95)}


JTL_HEADER = ("timeStamp,elapsed,label,responseCode,responseMessage,threadName,dataType,success,failureMessage,"
              "bytes,sentBytes,grpThreads,allThreads,URL,Latency,IdleTime,Connect\n")
JTL_LABELS = (
    # (weight, label, url path)
    (40, "/mixed", "/mixed"),
    (25, "/ok", "/ok"),
    (20, "/slow?ms=30", "/slow?ms=30"),
    (10, "login", "/login"),
    (5, '"GET /a, b"', "/a"),
)


def write_jtl(path: Path, rows: int, seed: int = 7) -> dict:
    """A CSV JTL of ``rows`` samples as JMeter 5.6 writes it for the adapter; what it holds."""
    rng = random.Random(seed)
    labels = [label for label in JTL_LABELS for _ in range(label[0])]
    elapsed_all = []
    errors = 0
    t = T0 * 1000.0 + 224
    out = [JTL_HEADER]
    lines = 1
    with open(path, "w", encoding="utf-8", newline="") as f:
        for i in range(rows):
            _, label, where = rng.choice(labels)
            thread = f"users 1-{rng.randint(1, VUS)}"
            roll = rng.random()
            url = f"http://127.0.0.1:18080{where}"
            if roll < 0.003:
                elapsed = rng.randint(1, 4)
                out.append(f"{int(t)},{elapsed},{label},Non HTTP response code: java.net.ConnectException,"
                           f"Non HTTP response message: Connection refused,{thread},text,false,,2345,0,"
                           f"{VUS},{VUS},{url},0,0,{elapsed}\n")
                errors += 1
            else:
                elapsed = max(1, round(rng.lognormvariate(2.8, 0.7)))
                connect = rng.randint(0, 2)
                if roll < 0.023:
                    code, message, success, failure = 500, "Internal Server Error", "false", ""
                elif roll < 0.033:
                    code, message, success = 200, "OK", "false"
                    failure = ('"Test failed: text expected to contain /Welcome/\n\nwhere the page said:\n'
                               'Try again"' if i % 10_000 == 5_000 else "Test failed: text expected to contain /Welcome/")
                    lines += failure.count("\n")
                else:
                    code, message, success, failure = 200, "OK", "true", ""
                errors += success == "false"
                out.append(f"{int(t)},{elapsed},{label},{code},{message},{thread},text,{success},{failure},"
                           f"177,123,{VUS},{VUS},{url},{max(1, elapsed - 3)},0,{connect}\n")
            elapsed_all.append(float(elapsed))
            lines += 1
            t += rng.expovariate(JTL_RATE / 1000.0)
            if len(out) >= 4096:
                f.write("".join(out))
                out.clear()
        f.write("".join(out))
    return {"lines": lines, "requests": rows, "errors": errors, "p95_ms": percentile(elapsed_all, 95)}


# -- measuring ---------------------------------------------------------------------


def read_lines(path: Path) -> int:
    """The baseline every reader is held against: iterate the file's lines, nothing else."""
    n = 0
    with open(path, "rb") as f:
        for _ in f:
            n += 1
    return n


def naive_k6(path: Path) -> list[float]:
    """The naive k6 parser: json.loads every line, collect the http_req_duration values, sort them."""
    loads = json.loads
    durations = []
    with open(path, "rb") as f:
        for line in f:
            obj = loads(line)
            if obj["type"] == "Point" and obj["metric"] == "http_req_duration":
                durations.append(obj["data"]["value"])
    durations.sort()
    return durations


def naive_jtl(path: Path) -> list[float]:
    """The JTL baseline: one csv.reader over the file, collect elapsed, sort."""
    with open(path, newline="", encoding="utf-8") as f:
        rows = csv.reader(f)
        column = next(rows).index("elapsed")
        elapsed = [float(row[column]) for row in rows]
    elapsed.sort()
    return elapsed


def parse(tool: str, path: Path):
    """The tool's reader over the whole file, as ``python -m runners summarize`` drives it."""
    from runners import get_adapter

    return get_adapter(tool).file_reader(path, interval_s=1.0).finish()


def timed(fn, *args) -> tuple[float, object]:
    started = time.perf_counter()
    value = fn(*args)
    return time.perf_counter() - started, value


def check(result, truth: dict, label: str) -> None:
    """Raise unless the reader's Result counts what was generated."""
    problems = []
    if result.count != truth["requests"]:
        problems.append(f"count {result.count} != {truth['requests']}")
    if result.errors != truth["errors"]:
        problems.append(f"errors {result.errors} != {truth['errors']}")
    if "checks" in truth and result.checks != truth["checks"]:
        problems.append(f"checks {result.checks} != {truth['checks']}")
    if "names" in truth and len(result.requests) != truth["names"]:
        problems.append(f"{len(result.requests)} request names != {truth['names']}")
    if result.partial:
        problems.append("partial")
    exact = truth["p95_ms"]
    if not exact <= result.p95_ms <= exact * 1.001 + 0.001:
        problems.append(f"p95 {result.p95_ms} ms, exact {exact} ms")
    if problems:
        raise RuntimeError(f"{label} parsed wrong: " + "; ".join(problems))


def child_rss(tool: str, path: Path) -> dict:
    """Parse ``path`` in a fresh process; its RSS before parsing and its peak."""
    out = subprocess.run([sys.executable, str(Path(__file__).resolve()), CHILD_FLAG, tool, str(path)],
                         cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"the RSS child failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _high_water_mb() -> float:
    """This process's peak RSS (VmHWM): unlike getrusage's, it starts afresh at exec, not at the parent's peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return peak_rss_mb()  # no /proc: getrusage, which may include the parent's peak


def _child(tool: str, path: str) -> None:
    from runners import get_adapter  # imported before the first figure: the interpreter's own RSS

    get_adapter(tool)
    before = _high_water_mb()
    result = parse(tool, Path(path))
    print(json.dumps({"interpreter_rss_mb": round(before, 1), "peak_rss_mb": round(_high_water_mb(), 1),
                      "count": result.count}))


def run(quick: bool) -> dict:
    from runners.adapters import k6 as k6_module

    lines = 20_000 if quick else 1_000_000
    rounds = 1 if quick else 3
    work = Path(tempfile.mkdtemp(prefix="perfmon-p3-"))
    try:
        mix, durations, jtl = work / "mix.json", work / "durations.json", work / "results.jtl"
        generated_at = time.perf_counter()
        mix_truth = write_k6_mix(mix, lines)
        duration_truth = write_k6_durations(durations, lines)
        jtl_truth = write_jtl(jtl, lines)
        generate_s = time.perf_counter() - generated_at

        figures: dict[str, list[float]] = {}

        def add(name: str, seconds: float) -> None:
            figures.setdefault(name, []).append(seconds)

        results = {}
        for _ in range(rounds):
            seconds, n = timed(read_lines, mix)
            assert n == mix_truth["lines"], (n, mix_truth["lines"])
            add("mix_read", seconds)
            seconds, results["mix"] = timed(parse, "k6", mix)
            add("mix_parse", seconds)

            seconds, _ = timed(read_lines, durations)
            add("durations_read", seconds)
            seconds, naive = timed(naive_k6, durations)
            assert len(naive) == lines
            del naive
            add("durations_naive", seconds)
            seconds, results["durations"] = timed(parse, "k6", durations)
            add("durations_parse", seconds)

            seconds, n = timed(read_lines, jtl)
            assert n == jtl_truth["lines"], (n, jtl_truth["lines"])
            add("jtl_read", seconds)
            seconds, elapsed = timed(naive_jtl, jtl)
            assert len(elapsed) == lines
            del elapsed
            add("jtl_csv", seconds)
            seconds, results["jtl"] = timed(parse, "jmeter", jtl)
            add("jtl_parse", seconds)
        check(results["mix"], mix_truth, "k6 mix")
        check(results["durations"], duration_truth, "k6 durations")
        check(results["jtl"], jtl_truth, "JTL")
        rss = child_rss("k6", mix)
        jtl_rss = child_rss("jmeter", jtl)
        load = machine()["load_average_1m"]
    finally:
        shutil.rmtree(work, ignore_errors=True)

    def best(name: str) -> float:
        return min(figures[name])

    def rate(items: int, name: str) -> int:
        return round(items / best(name))

    points = rate(mix_truth["lines"], "mix_parse")
    readlines = rate(mix_truth["lines"], "mix_read")
    naive_rate = rate(lines, "durations_naive")
    duration_only = rate(lines, "durations_parse")
    jtl_rows = rate(lines, "jtl_parse")
    jtl_csv = rate(lines, "jtl_csv")
    jtl_read = rate(lines, "jtl_read")
    return {
        "lines": mix_truth["lines"],
        "requests": mix_truth["requests"],
        "requests_parsed": results["mix"].count,
        "points_per_s": points,
        "readlines_per_s": readlines,
        "ratio": round(points / readlines, 3),
        "parse_s": round(best("mix_parse"), 3),
        "readlines_s": round(best("mix_read"), 3),
        "duration_only_parse_s": round(best("durations_parse"), 3),
        "duration_only_naive_s": round(best("durations_naive"), 3),
        "jtl_parse_s": round(best("jtl_parse"), 3),
        "jtl_csv_s": round(best("jtl_csv"), 3),
        "peak_rss_mb": rss["peak_rss_mb"],
        "interpreter_rss_mb": rss["interpreter_rss_mb"],
        "naive_points_per_s": naive_rate,
        "duration_only_points_per_s": duration_only,
        "duration_only_ratio": round(duration_only / naive_rate, 3),
        "duration_only_readlines_per_s": rate(lines, "durations_read"),
        "duration_only_requests_parsed": results["durations"].count,
        "jtl_rows": lines,
        "jtl_requests_parsed": results["jtl"].count,
        "jtl_rows_per_s": jtl_rows,
        "jtl_csv_rows_per_s": jtl_csv,
        "jtl_ratio": round(jtl_rows / jtl_csv, 3),
        "jtl_readlines_per_s": jtl_read,
        "jtl_readlines_ratio": round(jtl_rows / jtl_read, 3),
        "jtl_peak_rss_mb": jtl_rss["peak_rss_mb"],
        "json_decoder": "orjson" if k6_module._fast_loads is not json.loads else "json",
        "rounds": rounds,
        "generate_s": round(generate_s, 1),
        "load_average_1m": load,
        "quick": quick,
    }


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == CHILD_FLAG:
        _child(sys.argv[2], sys.argv[3])
    else:
        script_main(run, __doc__.split("\n")[0])
