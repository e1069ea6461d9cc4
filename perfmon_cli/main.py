"""``perfmon``: run monitors and tests from CI, list monitors and runs, print a run's log, compare runs.

Configuration comes from the environment (or the equivalent options):
``PERFMON_URL`` (the server, e.g. https://perfmon.example.com), ``PERFMON_API_KEY``
(a tenant API key, ``pmk_…``) and, only to run perfscale tests by id or name,
``PERFMON_TOKEN`` (an OIDC access token for /api/v1). Exit codes: perfmon_cli/codes.py
and docs/ci.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from rich.console import Console
from rich.markup import escape

from perfmon_cli import __version__, codes, reports
from perfmon_cli.client import ApiError, Client, CliError
from perfmon_cli.follow import Follower
from perfmon_cli.render import (
    REQUEST_METRICS,
    comparison_requests_table,
    comparison_table,
    metrics_table,
    monitors_table,
    runs_table,
)

FINAL = frozenset({"pass", "fail", "error", "cancelled", "skipped"})
# Outside a terminal (a pipe, a CI log) there is no width to fit: lines are as long as their content,
# so tables keep whole ids and messages instead of cutting them at 80 columns ("538ece…").
UNBOUNDED_WIDTH = 10_000


def make_console(*, stderr: bool = False) -> Console:
    console = Console(stderr=stderr)
    if console.is_terminal:
        return console
    return Console(stderr=stderr, width=UNBOUNDED_WIDTH)


def _parser() -> argparse.ArgumentParser:
    # The connection options are accepted before or after the command name.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--url", default=argparse.SUPPRESS, help="server URL (env PERFMON_URL)")
    common.add_argument("--api-key", default=argparse.SUPPRESS, help="tenant API key (env PERFMON_API_KEY)")
    common.add_argument("--token", default=argparse.SUPPRESS,
                        help="OIDC access token, only for running perfscale tests (env PERFMON_TOKEN)")
    parser = argparse.ArgumentParser(prog="perfmon", parents=[common],
                                     description="perfmon command-line client for CI pipelines.")
    parser.add_argument("--version", action="version", version=f"perfmon-cli {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", parents=[common], help="trigger a run of a monitor (or test), by id or name")
    run.add_argument("target", metavar="MONITOR_OR_TEST", help="id (or its first 6+ characters) or name")
    run.add_argument("--wait", action="store_true", help="follow the run to its end; the exit code is its verdict")
    run.add_argument("--timeout", type=float, default=3600.0, help="seconds to wait at most (default 3600)")
    run.add_argument("--cancel-on-timeout", action="store_true",
                     help="cancel the run when --timeout expires (monitors; default: leave it running)")
    run.add_argument("--poll", type=float, default=2.0, help="seconds between status polls (default 2)")
    run.add_argument("--junit", metavar="PATH", help="write a JUnit XML report (with --wait)")
    run.add_argument("--json", metavar="PATH", dest="json_path", help="write the result as JSON")
    run.add_argument("--no-logs", action="store_true", help="do not print the tool's output while waiting")
    run.add_argument("--test", action="store_true", help="the target is a test (/api/v1, needs PERFMON_TOKEN)")

    commands.add_parser("monitors", parents=[common], help="list the monitors")

    runs = commands.add_parser("runs", parents=[common], help="list recent runs (of one monitor, or of all)")
    runs.add_argument("monitor", nargs="?", metavar="MONITOR", help="monitor id (or its first 6+ characters) or name")
    runs.add_argument("--limit", type=int, default=20)
    runs.add_argument("--json", action="store_true", dest="as_json", help="print JSON instead of a table")

    logs = commands.add_parser("logs", parents=[common], help="print a run's log")
    logs.add_argument("run_id", metavar="RUN", help="run id, or its first 6+ characters")
    logs.add_argument("--follow", "-f", action="store_true", help="keep printing until the run ends")
    logs.add_argument("--poll", type=float, default=2.0)

    compare = commands.add_parser("compare", parents=[common],
                                  help="compare 2 or 3 runs side by side (the first is the baseline)")
    compare.add_argument("run_ids", nargs="+", metavar="RUN", help="run id, or its first 6+ characters")
    compare.add_argument("--metric", choices=REQUEST_METRICS, default="p95",
                         help="the latency figure shown per request name (default p95)")
    compare.add_argument("--json", action="store_true", dest="as_json", help="print the comparison as JSON")
    return parser


def _client(args) -> Client:
    if not args.url:
        raise CliError("set PERFMON_URL (or --url) to the perfmon server, e.g. https://perfmon.example.com",
                       codes.USAGE)
    if not args.api_key and not (args.command == "run" and args.test):
        raise CliError("set PERFMON_API_KEY (or --api-key) to a tenant API key (pmk_…)", codes.USAGE)
    return Client(args.url, api_key=args.api_key, token=args.token)


def _resolve(client: Client, args) -> dict:
    """{"kind": "monitor"|"test", "id", "name"} for the argument; monitors first."""
    if args.test and not args.token:
        raise CliError("--test runs a perfscale test through /api/v1: set PERFMON_TOKEN (or --token)", codes.USAGE)
    if not args.test and args.api_key:
        monitor = client.find_monitor(args.target)
        if monitor is not None:
            return {"kind": "monitor", "id": monitor["id"], "name": monitor["name"]}
    if args.token:
        test = client.find_test(args.target)
        if test is not None:
            return {"kind": "test", "id": test["id"], "name": test["name"]}
    hint = "" if args.token else " (tests need PERFMON_TOKEN)"
    raise CliError(f"no monitor or test has the id, id prefix or name {args.target!r}{hint}", codes.NOT_FOUND)


def command_run(args, console: Console, err: Console) -> int:
    client = _client(args)
    target = _resolve(client, args)
    if target["kind"] == "monitor":
        accepted = client.trigger_monitor(target["id"])
        run_id = accepted["runId"]
    else:
        run_id = client.trigger_test(target["id"])["id"]
    err.print(f"[bold]perfmon[/]: {target['kind']} {target['name']!r}: run {run_id} requested")
    started = time.monotonic()
    if not args.wait:
        run = follow_once(client, target, run_id)
        _write_files(args, client, target, run, started, codes.PASS, log_text="")
        console.print(run_id)
        return codes.PASS
    follower = Follower(client, target, run_id, console=err, show_logs=not args.no_logs, poll=args.poll)
    run = follower.wait(timeout=args.timeout)
    if run.get("status") not in FINAL:
        if args.cancel_on_timeout and target["kind"] == "monitor":
            run["status"] = client.cancel_run(run_id)["status"]
            err.print(f"[yellow]timed out after {args.timeout:g}s; the run was cancelled (now {run['status']})")
        else:
            err.print(f"[yellow]timed out after {args.timeout:g}s; the run is still {run.get('status')} on the server")
        exit_code = codes.TIMEOUT
    else:
        exit_code = codes.BY_STATUS.get(run["status"], codes.ERROR)
    err.print(metrics_table(run))
    verdict = {codes.PASS: "[green]PASS", codes.FAIL: "[red]FAIL"}.get(exit_code, f"[red]{escape(str(run.get('status'))).upper()}")
    reason = f": {escape(run['reason'])}" if run.get("reason") and exit_code != codes.TIMEOUT else ""
    err.print(f"{verdict}[/] run {run_id} (exit {exit_code}){reason}", highlight=False)
    _write_files(args, client, target, run, started, exit_code, log_text=follower.log_text, err=err)
    return exit_code


def follow_once(client: Client, target: dict, run_id: str) -> dict:
    return Follower(client, target, run_id, console=None, show_logs=False, poll=0).poll_once()


def breakdown_of(client: Client, run: dict, err: Console | None = None) -> tuple[list | None, list | None]:
    """(the run's requests, its errors by cause) once it has ended; (None, None) before, or without an
    API key (a test run with only PERFMON_TOKEN), or when the server cannot say (an older server)."""
    if run.get("status") not in FINAL or not client.api_key:
        return None, None
    try:
        return client.run_requests(run["id"]), client.run_errors(run["id"])
    except ApiError as exc:
        if err is not None:
            err.print(f"[yellow]perfmon: the run's per-request figures are not available: {escape(str(exc))}",
                      highlight=False)
        return None, None


def _write_files(args, client: Client, target: dict, run: dict, started: float, exit_code: int, *,
                 log_text: str, err: Console | None = None) -> None:
    if not args.json_path and not args.junit:
        return
    requests, errors = breakdown_of(client, run, err)
    document = reports.result_document(target, run, exit_code=exit_code, url=client.url,
                                       duration_s=time.monotonic() - started, requests=requests, errors=errors)
    if args.json_path:
        reports.write_json(args.json_path, document)
    if args.junit:
        reports.write_junit(args.junit, document, log_text)


def command_monitors(args, console: Console, err: Console) -> int:
    console.print(monitors_table(_client(args).monitors()))
    return codes.PASS


def command_runs(args, console: Console, err: Console) -> int:
    client = _client(args)
    if args.monitor:
        monitor = client.find_monitor(args.monitor)
        if monitor is None:
            raise CliError(f"no monitor has the id, id prefix or name {args.monitor!r}", codes.NOT_FOUND)
        names = {monitor["id"]: monitor["name"]}
        rows = client.runs(monitor["id"], limit=args.limit)["runs"]
    else:
        names = {m["id"]: m["name"] for m in client.monitors()}
        rows = client.all_runs(limit=args.limit)["runs"]
    if args.as_json:
        import json

        console.print_json(json.dumps(rows))
    else:
        console.print(runs_table(rows, names))
    return codes.PASS


def command_logs(args, console: Console, err: Console) -> int:
    client = _client(args)
    run_id = client.resolve_run_id(args.run_id)
    text, status = client.logs(run_id)
    console.file.write(text)
    printed = len(text)
    while args.follow and status not in FINAL:
        time.sleep(args.poll)
        text, status = client.logs(run_id)
        console.file.write(text[printed:])
        console.file.flush()
        printed = len(text)
    console.file.flush()
    return codes.PASS


def command_compare(args, console: Console, err: Console) -> int:
    if not 2 <= len(args.run_ids) <= 3:
        raise CliError(f"compare takes 2 or 3 runs, got {len(args.run_ids)}", codes.USAGE)
    client = _client(args)
    run_ids = [client.resolve_run_id(text) for text in args.run_ids]
    if len(set(run_ids)) != len(run_ids):
        raise CliError("give each run once", codes.USAGE)
    comparison = client.compare(run_ids)
    if args.as_json:
        import json

        console.print_json(json.dumps(comparison))
        return codes.PASS
    console.print(comparison_table(comparison))
    if comparison.get("requests"):
        console.print(comparison_requests_table(comparison, metric=args.metric))
    return codes.PASS


COMMANDS = {"run": command_run, "monitors": command_monitors, "runs": command_runs, "logs": command_logs,
            "compare": command_compare}


def main(argv: list[str] | None = None) -> int:
    console = make_console()
    err = make_console(stderr=True)
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # argparse: 0 for --help/--version, 2 for usage errors
        return int(exc.code or 0)
    for option, variable in (("url", "PERFMON_URL"), ("api_key", "PERFMON_API_KEY"), ("token", "PERFMON_TOKEN")):
        if not hasattr(args, option):
            setattr(args, option, os.environ.get(variable, ""))
    if args.command == "run" and args.junit and not args.wait:
        err.print("[red]--junit needs --wait (the report is the run's verdict)")
        return codes.USAGE
    try:
        return COMMANDS[args.command](args, console, err)
    except CliError as exc:
        err.print(f"[red]perfmon: {escape(str(exc))}", highlight=False)
        return exc.exit_code
    except KeyboardInterrupt:
        err.print("[yellow]interrupted")
        return codes.INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
