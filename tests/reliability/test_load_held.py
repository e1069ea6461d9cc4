"""The web tier of `make up` under a bounded concurrent load while a real run streams.

50 k6 virtual users (on 127.0.0.1) spend PERFMON_LOAD_HELD_S seconds (default
60) on the three requests a busy installation answers most: the monitors list,
one run's detail and the agent API's series endpoint (each post a new point
of a run claimed by a second agent). Meanwhile the local agent runs a k6
monitor of its own that streams its series through the same web processes.
Promised: no connection reset or refused, no 5xx, every series point stored,
and the streaming run judged as usual. The percentiles are printed for
docs/operations.md, never compared with a bound.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import requests

from runners.builder import ResultBuilder
from runners.records import RequestRecord
from tests.runners.conftest import require_tool
from tests.test_stack import START_TIMEOUT_S, free_port, wait_for, wait_for_agent

ROOT = Path(__file__).resolve().parents[2]
LOAD_S = int(os.environ.get("PERFMON_LOAD_HELD_S", "60"))
VUS = 50

LOAD_SCRIPT = """
import http from 'k6/http';
import { check } from 'k6';
import { Counter } from 'k6/metrics';

const resets = new Counter('resets');
const serverErrors = new Counter('server_errors');
const unexpected = new Counter('unexpected');
const posted = new Counter('points_posted');

const base = __ENV.BASE;
const api = { headers: { 'X-API-Key': __ENV.API_KEY } };
const point = JSON.parse(open(__ENV.POINT_FILE));
const loadS = parseInt(__ENV.LOAD_S);

export const options = {
  scenarios: { held: { executor: 'constant-vus', vus: parseInt(__ENV.VUS), duration: `${loadS}s`,
                        gracefulStop: '30s' } },
  summaryTrendStats: ['avg', 'p(50)', 'p(95)', 'p(99)', 'max'],
  // Listed so the summary carries each request's own percentiles.
  thresholds: {
    'http_req_duration{name:monitors}': ['max>=0'],
    'http_req_duration{name:run}': ['max>=0'],
    'http_req_duration{name:series}': ['max>=0'],
  },
};

function tally(res) {
  if (res.status === 0) { resets.add(1, { error: res.error || '' }); }
  else if (res.status >= 500) { serverErrors.add(1); }
  else if (res.status !== 200) { unexpected.add(1); }
}

export default function () {
  const pick = __ITER % 3;
  if (pick === 0) {
    tally(http.get(`${base}/api/monitors`, { ...api, tags: { name: 'monitors' } }));
  } else if (pick === 1) {
    tally(http.get(`${base}/api/runs/${__ENV.STREAMING_RUN}`, { ...api, tags: { name: 'run' } }));
  } else {
    const seq = __VU * 1000000 + __ITER;
    const body = JSON.stringify({ points: [Object.assign({}, point, { seq: seq })] });
    const res = http.post(`${base}/agent-api/v1/runs/${__ENV.SINK_RUN}/series`, body, {
      headers: { 'Authorization': `Bearer ${__ENV.AGENT_CREDENTIAL}`, 'Content-Type': 'application/json' },
      tags: { name: 'series' },
    });
    tally(res);
    if (res.status === 200) {
      posted.add(1);
      check(res, { 'point stored once': (r) => r.json('accepted') === 1 });
    }
  }
}

export function handleSummary(data) {
  return { [__ENV.SUMMARY_FILE]: JSON.stringify(data) };
}
"""


def a_point() -> dict:
    builder = ResultBuilder(apdex_t_ms=500)
    start = time.time() - 5
    for i in range(20):
        builder.add(RequestRecord(ts=start + i * 0.05, latency_ms=10.0 + i, status=200))
    return builder.result().to_dict()["series"][0]


def manage(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args], env=env, cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip().splitlines()[-1]


def wait_until(what: str, condition, timeout: float, proc: subprocess.Popen):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the stack exited early with {proc.returncode}")
        value = condition()
        if value:
            return value
        time.sleep(0.5)
    pytest.fail(f"{what} did not happen within {timeout:.0f}s")


def stored_points(url: str, headers: dict) -> int:
    """How many points the run's series holds, read page by page (1000 a page)."""
    total, after = 0, -1
    for _ in range(10_000):
        points = requests.get(url, params={"after": after}, headers=headers, timeout=30).json()["points"]
        if not points:
            return total
        total, after = total + len(points), points[-1]["seq"]
    raise AssertionError("the series did not end")


def trend(summary: dict, name: str) -> dict:
    return summary["metrics"][f"http_req_duration{{name:{name}}}"]["values"]


def count(summary: dict, metric: str) -> int:
    return int(summary["metrics"].get(metric, {}).get("values", {}).get("count", 0))


@pytest.mark.integration
def test_web_tier_holds_a_bounded_concurrent_load_while_a_run_streams(tmp_path, stack_database):
    k6 = require_tool("k6")
    port, target_port = free_port(), free_port()
    env = {
        **os.environ, **stack_database, "PORT": str(port), "PERFMON_VAR_DIR": str(tmp_path), "PERFMON_DEMO_TARGET_PORT": str(target_port),
        # The load is many requests of one key; the limiter's 429s are tested elsewhere.
        "PERFMON_API_RATE_LIMIT": "off",
    }
    env.pop("SECRET_KEY", None)
    env.pop("DJANGO_SETTINGS_MODULE", None)
    log = (tmp_path / "stack.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "scripts" / "stack.py")], env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(f"{base}/healthz", time.monotonic() + START_TIMEOUT_S, proc)
        headers = {"X-API-Key": (tmp_path / "demo-api-key").read_text().strip()}
        wait_for_agent(f"{base}/api/agents", headers, proc)

        # A second agent whose run receives the load's series posts; the test claims it as an agent would.
        manage_env = {**env, "DJANGO_SETTINGS_MODULE": "perfmon.settings", "SECRET_KEY_FILE": str(tmp_path / "secret-key")}
        sink_id = f"load-sink-{uuid.uuid4().hex[:8]}"
        token = manage(manage_env, "create_agent", sink_id, "--location", "local", "--tenant", "demo")
        credential = requests.post(f"{base}/agent-api/v1/enroll", json={"token": token}, timeout=10).json()["credential"]
        agent = {"Authorization": f"Bearer {credential}"}
        beat = requests.post(f"{base}/agent-api/v1/heartbeat", headers=agent, timeout=10,
                             json={"tools": {"k6": "1.0.0"}, "capacity": 1, "running_runs": []})
        assert beat.status_code == 200, beat.text

        def monitor(name: str, script: str, agent_id: str) -> str:
            created = requests.post(f"{base}/api/monitors", headers=headers, timeout=10, json={
                "name": name, "schedule": "0 0 1 1 *", "tool": "k6", "agentId": agent_id,
                "scriptContent": base64.b64encode(script.encode()).decode(),
                "thresholds": {"latencyMs": 5000, "errorRatePercent": 1},
                "parameters": {"TARGET_HOST": f"http://127.0.0.1:{target_port}/"},
            })
            assert created.status_code == 201, created.text
            started = requests.post(f"{base}/api/monitors/{created.json()['id']}/run", headers=headers, timeout=10)
            assert started.status_code == 202, started.text
            return started.json()["runId"]

        streaming = monitor("Streaming", (
            "import http from 'k6/http';\nimport { sleep } from 'k6';\n"
            f"export const options = {{ vus: 2, duration: '{LOAD_S + 10}s' }};\n"
            "export default function () { http.get(__ENV.TARGET_HOST); sleep(0.05); }\n"
        ), "default")
        sink = monitor("Sink", "export default function () {}\n", sink_id)
        claimed = requests.post(f"{base}/agent-api/v1/runs/{sink}/claim", headers=agent, timeout=10,
                                json={"claim_id": str(uuid.uuid4())})
        assert claimed.status_code == 200, claimed.text
        wait_until("the streaming run starting", lambda: requests.get(
            f"{base}/api/runs/{streaming}", headers=headers, timeout=10).json()["status"] == "running", 90, proc)

        point_file, summary_file = tmp_path / "point.json", tmp_path / "summary.json"
        point_file.write_text(json.dumps(a_point()))
        script = tmp_path / "load.js"
        script.write_text(LOAD_SCRIPT)
        load_env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path), "K6_NO_USAGE_REPORT": "true",
            "BASE": base, "API_KEY": headers["X-API-Key"], "AGENT_CREDENTIAL": credential, "VUS": str(VUS),
            "LOAD_S": str(LOAD_S), "STREAMING_RUN": streaming, "SINK_RUN": sink,
            "POINT_FILE": str(point_file), "SUMMARY_FILE": str(summary_file),
        }
        loaded = subprocess.run([k6, "run", "--quiet", str(script)], env=load_env, cwd=tmp_path,
                                capture_output=True, text=True, timeout=LOAD_S + 180, check=False)
        assert loaded.returncode == 0, loaded.stdout[-2000:] + loaded.stderr[-2000:]
        summary = json.loads(summary_file.read_text())

        total = count(summary, "http_reqs")
        figures = {name: trend(summary, name) for name in ("monitors", "run", "series")}
        print(f"\n{VUS} clients for {LOAD_S}s: {total} requests, "
              f"{total / LOAD_S:.0f}/s; " + "; ".join(
                  f"{name} p50 {v['p(50)']:.1f} p95 {v['p(95)']:.1f} p99 {v['p(99)']:.1f} max {v['max']:.1f} ms"
                  for name, v in figures.items()))
        assert total > VUS * 3, "the load barely ran"
        assert count(summary, "resets") == 0, loaded.stderr[-3000:]
        assert count(summary, "server_errors") == 0
        assert count(summary, "unexpected") == 0
        assert summary["metrics"]["checks"]["values"]["fails"] == 0

        # Every posted point is stored, and the streaming run is judged as usual.
        posted = count(summary, "points_posted")
        assert posted > 0 and stored_points(f"{base}/api/runs/{sink}/series", headers) == posted
        run = wait_until("the streaming run ending", lambda: (lambda r: r if r["status"] not in ("queued", "running")
                                                             else None)(requests.get(
            f"{base}/api/runs/{streaming}", headers=headers, timeout=10).json()), LOAD_S + 120, proc)
        assert run["status"] == "pass", run
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
