"""Run every benchmark and write bench/results/latest.json (``make bench``; ``make bench-quick``).

    .venv/bin/python bench/run.py [--quick] [--only P1,P3]

Each figure's script (bench/p1_schedule.py … bench/p5_agent.py) runs in its own
process against a scratch database this run creates, migrates and drops at the
end (``perfmon_bench_<pid>``), and a Redis database of its own (db 15 of the
configured server); every script deletes what it made there. PostgreSQL and
Redis are the ones in DATABASE_URL/REDIS_URL, or, when those are unset, the
ones ``scripts/services.sh`` starts (it never destroys data). The figures go
to bench/results/latest.json (``--quick``: bench/results/quick.json, so a smoke
run never overwrites the measured figures) and a table on stdout.

``--quick`` runs small sizes in about two minutes as a smoke test: its figures say
that every path works, not how fast it is. Nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import RESULT_PREFIX, ROOT, machine  # noqa: E402

BENCH = ROOT / "bench"
RESULTS = BENCH / "results"
SCRIPTS = {
    "P1": "p1_schedule.py",
    "P2": "p2_ingest.py",
    "P3": "p3_parse.py",
    "P4": "p4_api.py",
    "P5": "p5_agent.py",
}
TITLES = {
    "P1": "scheduling: due minute to published",
    "P2": "ingest: series points through the agent API",
    "P3": "parse: the tools' raw output",
    "P4": "API answers",
    "P5": "agent overhead over bare k6",
}
REDIS_DB = 15
TIMEOUT_S = {False: 20 * 60, True: 3 * 60}


def service_urls() -> tuple[str, str]:
    """DATABASE_URL and REDIS_URL: the environment's, or those of the services scripts/services.sh starts."""
    database, redis = os.environ.get("DATABASE_URL"), os.environ.get("REDIS_URL")
    if database and redis:
        return database, redis
    out = subprocess.run(
        ["bash", str(ROOT / "scripts" / "services.sh")], cwd=ROOT, capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        sys.exit(f"[bench] scripts/services.sh failed:\n{out.stderr[-2000:]}")
    exports = {}
    for line in out.stdout.splitlines():
        parts = shlex.split(line)
        if len(parts) == 2 and parts[0] == "export" and "=" in parts[1]:
            name, value = parts[1].split("=", 1)
            exports[name] = value
    return database or exports["DATABASE_URL"], redis or exports["REDIS_URL"]


def with_path(url: str, path: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, parts.fragment))


def psql(database_url: str, statement: str) -> None:
    import psycopg

    with psycopg.connect(with_path(database_url, "/postgres"), autocommit=True) as conn:
        conn.execute(statement)


def run_script(key: str, quick: bool, env: dict[str, str]) -> dict:
    argv = [sys.executable, str(BENCH / SCRIPTS[key])] + (["--quick"] if quick else [])
    print(f"[bench] {key} {TITLES[key]} …", flush=True)
    started = time.monotonic()
    try:
        out = subprocess.run(
            argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=TIMEOUT_S[quick], check=False
        )
    except subprocess.TimeoutExpired as exc:
        return {"error": f"did not finish in {TIMEOUT_S[quick]} s", "output": (exc.stdout or "")[-2000:]}
    lines = [line for line in out.stdout.splitlines() if line.startswith(RESULT_PREFIX)]
    if out.returncode != 0 or not lines:
        return {"error": f"exit {out.returncode}", "output": (out.stdout + out.stderr)[-3000:]}
    result = json.loads(lines[-1][len(RESULT_PREFIX) :])
    result["bench_wall_s"] = round(time.monotonic() - started, 1)
    return result


def table(results: dict) -> str:
    rows = []
    for key in SCRIPTS:
        if key not in results:
            continue
        rows.append(f"{key}  {TITLES[key]}")
        for name, value in results[key].items():
            if name == "output":
                continue
            shown = f"{value:.4g}" if isinstance(value, float) else json.dumps(value) if isinstance(value, dict | list) else value
            rows.append(f"    {name:<32} {shown}")
    return "\n".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes in about two minutes: a smoke test")
    parser.add_argument("--only", default="", help="comma-separated figures to run, e.g. P1,P3")
    parser.add_argument("--output", type=Path, help="where to write the JSON (default bench/results/latest.json)")
    args = parser.parse_args()
    chosen = [key.strip().upper() for key in args.only.split(",") if key.strip()] or list(SCRIPTS)
    unknown = sorted(set(chosen) - set(SCRIPTS))
    if unknown:
        parser.error(f"unknown figure(s) {', '.join(unknown)}; choose from {', '.join(SCRIPTS)}")

    database_url, redis_url = service_urls()
    scratch = f"perfmon_bench_{os.getpid()}"
    bench_database = with_path(database_url, f"/{scratch}")
    env = {
        **os.environ,
        "DATABASE_URL": bench_database,
        "REDIS_URL": with_path(redis_url, f"/{REDIS_DB}"),
        "DJANGO_SETTINGS_MODULE": "perfmon.settings",
        "SECRET_KEY": os.environ.get("SECRET_KEY", "bench"),
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("CELERY_BROKER_URL", None)
    results: dict = {"machine": machine(), "quick": args.quick}
    psql(database_url, f'CREATE DATABASE "{scratch}"')
    try:
        migrate = subprocess.run(
            [sys.executable, str(ROOT / "manage.py"), "migrate", "-v0"], cwd=ROOT, env=env, check=False
        )
        if migrate.returncode != 0:
            sys.exit("[bench] migrating the scratch database failed")
        for key in chosen:
            results[key] = run_script(key, args.quick, env)
    finally:
        psql(database_url, f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')

    output = args.output or RESULTS / ("quick.json" if args.quick else "latest.json")
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results, indent=2, sort_keys=False) + "\n")
    print(table(results))
    print(f"[bench] wrote {output.relative_to(ROOT) if output.is_relative_to(ROOT) else output}")
    failed = [key for key in chosen if "error" in results[key]]
    for key in failed:
        print(f"[bench] {key} failed: {results[key]['error']}\n{results[key].get('output', '')}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
