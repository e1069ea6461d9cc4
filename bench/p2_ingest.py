"""P2, ingest: series points through the agent API over HTTP against raw psycopg COPY of the same rows.

    DATABASE_URL=… REDIS_URL=… .venv/bin/python bench/p2_ingest.py [--quick]

Starts the control plane's web process as ``make up`` does (gunicorn, 2 workers
of 4 threads, on a free 127.0.0.1 port, with its own control socket), enrols an
agent over the agent API, makes a run for it and claims it over HTTP, then
posts series points to ``/agent-api/v1/runs/{id}/series`` the way the agent's
reporter does: one post after another on one keep-alive connection, each body
JSON encoded beforehand (as the spool holds it). The baseline, in the same
process and interleaved with it, is raw psycopg COPY of the same rows (tuples
ready to write, binary COPY, the fastest psycopg offers, one per batch in its
own transaction) into the same table on one connection: what any ingest path
of this database could do at best.

The batch (``batch``, 1,000 points) is the largest post the agent sends
(agents/reporter.py's MERGE_MAX_ITEMS): what a run's spool is drained with
after the control plane was away for a while, the moment ingest throughput
matters. In steady state the agent posts once per flush interval per run
(2 s, so ``flush_batch``: 2 points); ``single_point_per_s`` is one point per
post (how agents streamed before), ``max_batch_per_s`` the API's largest
post (5,000 points). Every point carries the HDR histogram of 200 lognormal
latencies (about 640 bytes of JSON a point). Each figure is the median of
three rounds; ``ratio`` is points_per_s / copy_points_per_s. The script checks
that every point was stored exactly once and deletes what it made (plain SQL:
no audit row per deleted object).
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ROOT, machine, script_main, setup_django  # noqa: E402

BATCH = 1000
FLUSH_BATCH = 2
MAX_BATCH = 5000
ROUNDS = 3
COLUMNS = ("run_id", "part", "seq", "start", "interval_s", "count", "errors", "p50_ms", "p95_ms", "p99_ms",
           "throughput_rps", "histogram", "covered_s", "p90_ms", "vus")
TYPES = ("uuid", "int2", "int4", "timestamptz", "float8", "int4", "int4", "float8", "float8", "float8", "float8", "text",
         "float8", "float8", "int4")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _templates(n: int) -> list[dict]:
    """``n`` distinct 1 s points of 200 requests each (lognormal latencies), to number as needed."""
    from runners.histogram import LatencyHistogram
    from runners.result import SeriesPoint

    rng = random.Random(17)
    out = []
    for i in range(n):
        histogram = LatencyHistogram()
        for _ in range(200):
            histogram.record(rng.lognormvariate(3.0, 0.6))
        out.append(SeriesPoint.build(0, 0.0, 1.0, 200, i % 3, histogram, vus=20).to_dict())
    return out


def _points(first_seq: int, n: int, templates: list[dict]) -> list[dict]:
    """``n`` points numbered from ``first_seq``, one second apart."""
    t0 = 1_763_859_000.0
    return [{**templates[seq % len(templates)], "seq": seq, "start": t0 + seq}
            for seq in range(first_seq, first_seq + n)]


def _rows(run_id: uuid.UUID, points: list[dict]) -> list[tuple]:
    return [(run_id, 0, p["seq"], datetime.fromtimestamp(p["start"], tz=UTC), p["interval_s"], p["count"],
             p["errors"], p["p50_ms"], p["p95_ms"], p["p99_ms"], p["throughput_rps"], p["histogram"], p["covered_s"],
             p["p90_ms"], p["vus"]) for p in points]


class Server:
    """The control plane's gunicorn on a free port, as scripts/stack.py starts it."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.dir = tempfile.mkdtemp(prefix="perfmon-p2-")
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "perfmon.settings"}
        env.setdefault("SECRET_KEY", "bench")
        self.process = subprocess.Popen(
            [str(ROOT / ".venv" / "bin" / "gunicorn"), "perfmon.wsgi:application", "--bind", f"127.0.0.1:{self.port}",
             "--workers", "2", "--threads", "4", "--keep-alive", "75", "--graceful-timeout", "5",
             "--control-socket", str(Path(self.dir) / "gunicorn.ctl")],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=open(Path(self.dir) / "gunicorn.log", "wb"),  # noqa: SIM115
            start_new_session=True,
        )

    def wait_ready(self, session, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("gunicorn exited: " + (Path(self.dir) / "gunicorn.log").read_text()[-2000:])
            try:
                if session.get(self.url + "/healthz", timeout=2).status_code < 500:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"gunicorn did not answer within {timeout:.0f} s")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for name in ("gunicorn.log", "gunicorn.ctl"):
            (Path(self.dir) / name).unlink(missing_ok=True)
        os.rmdir(self.dir)


def _setup(server: Server, session) -> tuple:
    """A tenant, an agent enrolled over HTTP, and a run of it claimed over HTTP."""
    from perfmon.definitions.models import TestDefinition
    from perfmon.fleet.models import Agent
    from perfmon.fleet.services import create_agent
    from perfmon.monitors.models import Monitor
    from perfmon.runs.models import Run
    from perfmon.tenants.models import Tenant

    slug = f"bench-p2-{uuid.uuid4().hex[:8]}"
    tenant = Tenant.objects.create(name=slug, slug=slug)
    token = create_agent(agent_id=slug, tenant=tenant, location="bench").enrollment_token
    enrolled = session.post(f"{server.url}/agent-api/v1/enroll", json={"token": token, "tools": {"k6": "1"}}, timeout=30)
    enrolled.raise_for_status()
    credential = enrolled.json()["credential"]
    agent = Agent.all_tenants.get(pk=slug)
    test = TestDefinition.all_tenants.create(tenant=tenant, name=slug, tool="k6", script="x", status="active")
    monitor = Monitor.all_tenants.create(tenant=tenant, name=slug, test=test, schedule="* * * * *", enabled=False)
    # Made directly, not dispatched: nothing is published to the broker.
    run = Run.all_tenants.create(tenant=tenant, monitor=monitor, test=test, tool="k6", agent=agent)
    session.headers["Authorization"] = f"Bearer {credential}"
    claimed = session.post(f"{server.url}/agent-api/v1/runs/{run.pk}/claim", json={"claim_id": str(uuid.uuid4())},
                           timeout=30)
    claimed.raise_for_status()
    return tenant, agent, run


def _cleanup(tenant, agent) -> None:
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM runs_seriespoint WHERE run_id IN (SELECT id FROM runs_run WHERE tenant_id = %s)",
                       [tenant.pk])
        for table in ("runs_run", "monitors_monitor", "definitions_testdefinition", "operations_auditentry"):
            cursor.execute(f"DELETE FROM {table} WHERE tenant_id = %s", [tenant.pk])  # noqa: S608 - constants
        cursor.execute("DELETE FROM fleet_agentmetricsample WHERE agent_id = %s", [agent.pk])
        cursor.execute("DELETE FROM fleet_agent WHERE id = %s", [agent.pk])
        cursor.execute("DELETE FROM tenants_tenant WHERE id = %s", [tenant.pk])


def _post_all(session, url: str, bodies: list[bytes], per_post: int) -> float:
    """Post every body in turn; the points per second stored."""
    started = time.perf_counter()
    for body in bodies:
        response = session.post(url, data=body, headers={"Content-Type": "application/json"}, timeout=60)
        if response.status_code != 200 or response.json()["accepted"] != per_post:
            raise RuntimeError(f"series post answered {response.status_code}: {response.text[:300]}")
    return len(bodies) * per_post / (time.perf_counter() - started)


def _copy_all(conn, table: str, batches: list[list[tuple]]) -> float:
    """Raw COPY of every batch, one transaction each; the rows per second."""
    started = time.perf_counter()
    for rows in batches:
        with conn.cursor() as cursor, cursor.copy(
                f"COPY {table} ({', '.join(COLUMNS)}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(TYPES)
            for row in rows:
                copy.write_row(row)
    return sum(len(rows) for rows in batches) / (time.perf_counter() - started)


def run(quick: bool) -> dict:
    setup_django()
    import psycopg
    import requests
    from django.conf import settings
    from django.db import connection

    from perfmon.runs.models import SeriesPoint

    sizes = {  # batch: posts per round
        1: 40 if quick else 300,
        FLUSH_BATCH: 40 if quick else 300,
        BATCH: 4 if quick else 30,
        MAX_BATCH: 1 if quick else 6,
    }
    histograms = _templates(50)
    server = Server()
    session = requests.Session()
    session.trust_env = False
    tenant = agent = None
    database = settings.DATABASES["default"]
    try:
        server.wait_ready(session)
        tenant, agent, run_ = _setup(server, session)
        url = f"{server.url}/agent-api/v1/runs/{run_.pk}/series"
        table = SeriesPoint._meta.db_table
        conn = psycopg.connect(host=database["HOST"] or "127.0.0.1", port=database["PORT"] or 5432,
                               user=database["USER"], password=database["PASSWORD"], dbname=database["NAME"],
                               autocommit=True)
        next_seq = 0
        copy_seq = 1_000_000_000
        figures: dict[int, tuple[list[float], list[float]]] = {size: ([], []) for size in sizes}
        try:
            for _ in range(ROUNDS):
                for size, posts in sizes.items():
                    points = _points(next_seq, size * posts, histograms)
                    next_seq += size * posts
                    bodies = [json.dumps({"points": points[i:i + size]}, separators=(",", ":")).encode()
                              for i in range(0, len(points), size)]
                    copied = _rows(run_.pk, _points(copy_seq, size * posts, histograms))
                    copy_seq += size * posts
                    batches = [copied[i:i + size] for i in range(0, len(copied), size)]
                    figures[size][0].append(_post_all(session, url, bodies, size))
                    figures[size][1].append(_copy_all(conn, table, batches))
        finally:
            conn.close()
        stored = SeriesPoint.all_tenants.filter(run_id=run_.pk, seq__lt=1_000_000_000)
        if stored.count() != next_seq or stored.values("seq").distinct().count() != next_seq:
            raise RuntimeError(f"{stored.count()} points stored, {next_seq} posted")
        load = machine()["load_average_1m"]
    finally:
        if tenant is not None:
            _cleanup(tenant, agent)
        connection.close()
        server.stop()

    def median(size: int, which: int) -> float:
        return statistics.median(figures[size][which])

    ratios = [api / copy for api, copy in zip(*figures[BATCH], strict=True)]
    return {
        "batch": BATCH,
        "points_per_s": round(median(BATCH, 0)),
        "copy_points_per_s": round(median(BATCH, 1)),
        "ratio": round(median(BATCH, 0) / median(BATCH, 1), 3),
        "ratio_per_round": [round(r, 3) for r in ratios],
        "single_point_per_s": round(median(1, 0)),
        "single_copy_points_per_s": round(median(1, 1)),
        "flush_batch": FLUSH_BATCH,
        "flush_batch_points_per_s": round(median(FLUSH_BATCH, 0)),
        "flush_batch_copy_points_per_s": round(median(FLUSH_BATCH, 1)),
        "max_batch": MAX_BATCH,
        "max_batch_points_per_s": round(median(MAX_BATCH, 0)),
        "max_batch_copy_points_per_s": round(median(MAX_BATCH, 1)),
        "points_stored": next_seq,
        "bytes_per_point": round(len(json.dumps(_points(0, 100, histograms), separators=(",", ":"))) / 100),
        "load_average_1m": load,
        "quick": quick,
    }


if __name__ == "__main__":
    script_main(run, __doc__)
