"""Following one run until it ends: its status, elapsed time, live interval figures, the tool's
output, then its metrics."""

from __future__ import annotations

import time

from rich.console import Console, Group
from rich.live import Live
from rich.markup import escape
from rich.text import Text

from perfmon_cli import codes
from perfmon_cli.client import ApiError, Client
from perfmon_cli.render import live_line, metrics_table, styled

FINAL = frozenset({"pass", "fail", "error", "cancelled", "skipped"})
TAIL_LINES = 15
# Consecutive unreachable/5xx polls tolerated while following (a web process restarting during a deploy).
TRANSIENT_RETRIES = 5


def _from_task(task: dict) -> dict:
    """A /api/v1 task in the /api run shape, so the rest of the CLI sees one format."""
    return {
        "id": task["id"], "testId": task.get("test_id"), "status": task.get("detailed_status") or task["status"],
        "startedAt": task.get("started_at"), "completedAt": task.get("finished_at"),
        "agentId": task.get("machine_id"), "error": task.get("error", ""), "reason": task.get("reason"),
        "thresholdBreaches": [],
        "metrics": {"p50": task.get("p50"), "p95": task.get("p95"), "p99": task.get("p99"),
                    "errorRate": task.get("error_rate"), "throughput": task.get("requests_per_sec"),
                    "totalRequests": task.get("total_requests")},
    }


class Follower:
    """Polls the run (and its log, for monitors) and shows progress on ``console``.

    On a terminal it is a live panel (status, elapsed, the log's last lines);
    elsewhere (CI logs) it prints each status change and each new log line once.
    """

    def __init__(self, client: Client, target: dict, run_id: str, *, console: Console | None, show_logs: bool,
                 poll: float) -> None:
        self.client, self.target, self.run_id = client, target, run_id
        self.console, self.show_logs, self.poll = console, show_logs, poll
        self.log_text = ""
        self.run: dict = {"id": run_id, "status": "queued"}
        self.points: list[dict] = []
        self._printed = 0
        self._points_printed = 0
        self._failures = 0

    def _poll_tolerant(self) -> dict:
        """poll_once, riding out a few consecutive transient failures (connection errors, 5xx)."""
        try:
            self.poll_once()
        except ApiError as exc:
            self._failures += 1
            if exc.exit_code != codes.SERVER or self._failures > TRANSIENT_RETRIES:
                raise
            if self.console is not None:
                self.console.print(f"[yellow]{escape(str(exc))} (retrying)", highlight=False)
            return self.run
        self._failures = 0
        return self.run

    def poll_once(self) -> dict:
        if self.target["kind"] == "monitor":
            self.run = self.client.run(self.run_id)
            after = self.points[-1]["seq"] if self.points else -1
            self.points.extend(self.client.series(self.run_id, after)["points"])
            if self.show_logs or self.run["status"] in FINAL:
                self.log_text, _ = self.client.logs(self.run_id)
        else:
            self.run = _from_task(self.client.task(self.run_id))
        return self.run

    def _panel(self, elapsed: float) -> Group:
        status = self.run.get("status")
        header = Text.from_markup(
            f"[bold]{escape(self.target['name'])}[/]  {styled(status)}  {elapsed:5.0f}s"
            f"  agent {escape(str(self.run.get('agentId') or '-'))}"
        )
        lines = self.log_text.splitlines()[-TAIL_LINES:] if self.show_logs else []
        parts = [header]
        if self.target["kind"] == "monitor":
            parts.append(Text.from_markup(live_line(self.points)))
        parts.append(Text("\n".join(lines), style="dim"))
        if status in FINAL:
            parts.append(metrics_table(self.run))
        return Group(*parts)

    def wait(self, *, timeout: float) -> dict:
        started = time.monotonic()
        deadline = started + timeout
        if self.console is not None and self.console.is_terminal:
            with Live(self._panel(0), console=self.console, refresh_per_second=4, transient=True) as live:
                while True:
                    self._poll_tolerant()
                    live.update(self._panel(time.monotonic() - started))
                    if self.run["status"] in FINAL or time.monotonic() >= deadline:
                        return self.run
                    time.sleep(min(self.poll, max(0.0, deadline - time.monotonic())))
        last_status = None
        while True:
            self._poll_tolerant()
            if self.console is not None:
                if self.run["status"] != last_status:
                    last_status = self.run["status"]
                    self.console.print(f"[{time.monotonic() - started:6.1f}s] status {styled(last_status)}"
                                       f" agent {escape(str(self.run.get('agentId') or '-'))}")
                if len(self.points) > self._points_printed:
                    # One line a poll, not one per 1 s interval: a long run's CI log stays readable.
                    first, last = self.points[self._points_printed]["seq"], self.points[-1]["seq"]
                    seqs = f"{first}" if first == last else f"{first}-{last}"
                    self.console.print(f"[{time.monotonic() - started:6.1f}s] interval {seqs}: "
                                       f"{live_line(self.points)}", highlight=False)
                    self._points_printed = len(self.points)
                if self.show_logs and len(self.log_text) > self._printed:
                    self.console.out(self.log_text[self._printed:].rstrip("\n"), highlight=False)
                    self._printed = len(self.log_text)
            if self.run["status"] in FINAL or time.monotonic() >= deadline:
                return self.run
            time.sleep(min(self.poll, max(0.0, deadline - time.monotonic())))
