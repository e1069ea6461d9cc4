"""Running one run: claim it, run the tool safely, stream what it measures, report the end.

1. Claim over HTTP with a claim id made once per task execution. 409
   (another delivery claimed it, or it already ended) and 404: do nothing,
   so a redelivered message never sends a second load at a customer.
2. A private work dir (mkdtemp under the work root, 0700, handed to the
   user tools run as), the script written there, ``adapter.prepare()``.
   A part of a split run then reports ready and waits for the common start
   (``/runs/{id}/ready``, docs/distributed.md); if the run ends meanwhile it
   runs nothing and reports cancelled.
3. The tool in its own process group with a scrubbed environment
   (agents/tools.py), a wall-clock limit and an output cap (agents/process.py).
4. Every ``stream_interval_s``: new output becomes numbered log chunks, the
   reader's closed intervals become series points, both spooled for the
   control plane. Cancellation (heartbeat or stream answer), the time limit,
   unreadable output, the agent's shutdown and a work dir past its disk cap
   (agents/workdir.py) stop the tool by the adapter's StopPolicy.
5. ``reader.finish()`` gives the Result; the remaining series, the last log
   chunks and then the result post (a RunReport: outcome, exit code, error,
   counts and the claim id) are spooled, in that order. The work dir is removed.
   The control plane refuses (409 ``stale_claim``) a report whose claim is no
   longer the run's, or for a run it ended without one (agent lost, expired):
   the reporter drops it, since nothing it says can change that run any more.

Whatever fails on the way, a claimed run always gets a result post, also
when the claim's answer cannot be read (then nothing is run).
"""

from __future__ import annotations

import logging
import os
import shutil
import stat
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import psutil

from agents.client import TransportError
from agents.config import AgentConfig
from agents.process import MARKER, ToolProcess
from agents.reporter import ClaimRefused, Reporter
from agents.state import AgentState, RunHandle
from agents.tools import RunAs, ToolCatalog, scrubbed_env
from agents.workdir import DiskWatch
from runners.adapters import TOOLS, get_adapter
from runners.adapters.base import RunSpec
from runners.errors import ParseError, RunnerError
from runners.protocol import (
    MAX_ERROR_CHARS,
    ClaimAnswer,
    Outcome,
    ProtocolError,
    RunAssignment,
    RunReport,
    StartSignal,
    StartState,
)
from runners.split import Split

log = logging.getLogger(__name__)

CHUNK_CHARS = 32 * 1024
CHUNKS_PER_POST = 500  # the control plane takes at most 1000 per post
LOOP_S = 0.1
READY_POLL_S = 0.2  # a ready part asks this often whether every part is ready


class ShuttingDown(Exception):
    """The agent is stopping before this run was claimed: the message must go back to the queue."""


@dataclass
class AgentContext:
    """The agent's shared parts, built once by the worker."""

    config: AgentConfig
    reporter: Reporter
    catalog: ToolCatalog
    state: AgentState
    run_as: RunAs


def execute_run(ctx: AgentContext, payload: dict) -> str:
    """Run the assignment in ``payload`` (RunAssignment.to_dict()); returns what happened.

    Raises ShuttingDown when the agent stops before the run was claimed.
    Every other failure ends as a reported result, never an exception.
    """
    try:
        assignment = RunAssignment.from_dict(payload)
    except ProtocolError as exc:
        log.error("ignoring a malformed run assignment: %s", exc)
        return "malformed"
    if ctx.state.shutting_down:
        raise ShuttingDown(assignment.run_id)
    claim_id = str(uuid.uuid4())
    try:
        answer = ctx.reporter.claim(assignment.run_id, claim_id, give_up=lambda: ctx.state.shutting_down)
    except ClaimRefused as exc:
        log.info("run %s is not ours to run (%s); nothing to do", assignment.run_id, exc)
        return "not claimed"
    except TransportError as exc:
        log.error("claim of run %s failed: %s", assignment.run_id, exc)
        return "claim failed"
    if answer is None:
        raise ShuttingDown(assignment.run_id)
    try:
        claim = ClaimAnswer.from_dict(answer)
    except ProtocolError as exc:
        # The run is ours now (running on the control plane): end it with the reason rather
        # than guess what to run, or leave it for the sweeper.
        message = f"agent '{ctx.config.agent_id}' cannot read the claim's answer: {exc}"
        log.error("run %s: %s", assignment.run_id, message)
        ctx.reporter.result(assignment.run_id, RunReport(Outcome.AGENT_ERROR, error=message[:MAX_ERROR_CHARS],
                                                         series_count=0, log_chunk_count=0,
                                                         claim_id=claim_id).to_dict())
        return Outcome.AGENT_ERROR
    handle = ctx.state.begin(assignment.run_id, claim_id=claim_id, tool=assignment.tool)
    try:
        return RunExecution(ctx, handle, assignment, claim, claim_id=claim_id).run()
    finally:
        ctx.state.end(assignment.run_id)


def _safe_filename(name) -> str | None:
    if isinstance(name, str) and name and "/" not in name and "\0" not in name and name not in (".", ".."):
        return name
    return None


def remove_tree(path: Path) -> None:
    """Remove a work dir, also the parts a script made unwritable."""

    def fix(func, target, _exc):
        try:
            os.chmod(os.path.dirname(target), stat.S_IRWXU)
            if os.path.isdir(target):
                os.chmod(target, stat.S_IRWXU)
            func(target)
        except OSError:
            pass

    if sys.version_info >= (3, 12):
        shutil.rmtree(path, onexc=fix)
    else:
        shutil.rmtree(path, onerror=fix)


class RunExecution:
    """One claimed run from work dir to result post (see the module docstring)."""

    def __init__(self, ctx: AgentContext, handle: RunHandle, assignment: RunAssignment, claim: ClaimAnswer, *,
                 claim_id: str | None = None):
        self.ctx = ctx
        self.cfg = ctx.config
        self.handle = handle
        self.run_id = assignment.run_id
        self.claim = claim
        self.claim_id = claim_id  # the report carries it: it is refused once the claim is not the run's
        self.tool = claim.tool
        self.time_limit_s = float(claim.time_limit_s)
        self.apdex_t_ms = float(claim.apdex_t_ms)
        self.outcome: Outcome | None = None
        self.error = ""
        self.exit_code: int | None = None
        self.result = None
        # Numbered from 0 and counted whether or not the spool could take them (it drops posts
        # only when full): the report's counts then show the control plane what never arrived.
        self.log_seq = 0
        self.series_count = 0
        self.work_dir: Path | None = None
        self.process: ToolProcess | None = None
        self.reader = None
        self._marker_counts = (0, 0)
        self.disk: DiskWatch | None = None
        self._disk_kill_over = 0  # while the tool stops: the work dir's size past which it is killed at once

    # -- the whole run -------------------------------------------------------------------
    def run(self) -> str:
        try:
            self._execute()
        except Exception as exc:
            log.exception("run %s: unexpected agent error", self.run_id)
            self._set(Outcome.AGENT_ERROR, f"agent error: {exc.__class__.__name__}: {exc}", force=True)
            if self.process is not None:
                self.process.kill_now()
        finally:
            try:
                self._report()
            finally:
                if self.work_dir is not None:
                    remove_tree(self.work_dir)
        return self.outcome

    def _set(self, outcome: Outcome, error: str = "", *, force: bool = False) -> None:
        if self.outcome is None or force:
            self.outcome, self.error = outcome, error

    def _execute(self) -> None:
        if self.tool not in TOOLS:
            self._note(f"unknown tool {self.tool!r}")
            return self._set(Outcome.AGENT_ERROR,
                             f"agent '{self.cfg.agent_id}' cannot run unknown tool {self.tool!r}")
        info = self.ctx.catalog.get(self.tool)
        if info is None or not info.available:
            info = self.ctx.catalog.refresh((self.tool,))[self.tool]  # installed since the last probe?
        if not info.available:
            message = f"agent '{self.cfg.agent_id}' cannot run {self.tool}: {info.problem}"
            self._note(message)
            return self._set(Outcome.AGENT_ERROR, message)
        adapter = get_adapter(self.tool)
        self.work_dir = Path(tempfile.mkdtemp(prefix=f"run-{self.run_id[:8]}-", dir=self.cfg.work_root))
        self.ctx.state.write_marker(self.handle, work_dir=str(self.work_dir))
        (self.work_dir / "tmp").mkdir(mode=0o700)
        script_path = self.work_dir / (_safe_filename(self.claim.script_filename) or adapter.script_filename)
        script_path.write_text(self.claim.script)
        script_path.chmod(0o700 if self.tool == "custom" else 0o600)
        split = self.claim.part()
        spec = RunSpec(
            work_dir=self.work_dir, script_path=script_path,
            parameters=dict(self.claim.parameters),
            tool_path=info.path if self.tool != "custom" else None,
            interval_s=self.claim.interval_s, apdex_t_ms=self.apdex_t_ms, split=split,
            max_request_names=self.cfg.max_request_names,
            egress_deny_ips=tuple(self.cfg.egress_deny_ips),
            egress_deny_hostnames=tuple(self.cfg.egress_deny_hostnames),
        )
        try:
            command = adapter.prepare(spec)
            self.reader = adapter.reader(spec)
        except RunnerError as exc:
            self._note(f"cannot prepare the run: {exc}")
            return self._set(Outcome.TOOL_FAILED, f"invalid run for {self.tool}: {exc}")
        self.ctx.run_as.give(self.work_dir)
        env = scrubbed_env(command.env, work_dir=self.work_dir, tool_path=info.path)
        self.process = ToolProcess(command.argv, cwd=command.cwd, env=env, output_cap_bytes=self.cfg.output_cap_bytes,
                                   popen_kwargs=self.ctx.run_as.popen_kwargs())
        if split is not None and not self._wait_for_start(split):
            return None
        version = f" {info.version}" if info.version else ""
        who = f" as user {self.ctx.run_as.name}" if self.ctx.run_as.name else ""
        self._note(f"agent {self.cfg.agent_id} starts {self.tool}{version}{who}; "
                   f"time limit {self.time_limit_s:g}s")
        egress = self._egress_note(adapter)
        if egress:
            self._note(egress)
        try:
            self.process.start()
        except OSError as exc:
            self.process = None
            self._note(f"cannot start {self.tool}: {exc.strerror or exc}")
            return self._set(Outcome.AGENT_ERROR,
                             f"agent '{self.cfg.agent_id}' cannot start {self.tool}: {exc.strerror or exc}")
        self._remember_tool()
        self.disk = DiskWatch(self.work_dir, self.cfg.work_cap_bytes)
        self._follow(command.stop)
        self._conclude(adapter)

    def _remember_tool(self) -> None:
        """Write the tool's process group into the run's marker, so a restarted agent can stop it."""
        try:
            started = psutil.Process(self.process.pid).create_time()
        except psutil.Error:
            return  # already gone
        self.handle.tool_pgid, self.handle.tool_started = self.process.pid, started
        self.ctx.state.write_marker(self.handle, work_dir=str(self.work_dir or ""))

    def _egress_note(self, adapter) -> str:
        """What the run's log says of the egress deny lists: applied, or not possible with this tool."""
        ips, names = self.cfg.egress_deny_ips, self.cfg.egress_deny_hostnames
        if not ips and not names:
            return ""
        if not adapter.restricts_egress:
            return (f"{self.tool} cannot be restricted: the agent's egress deny list does not apply to it "
                    f"(docs/agent-install.md, \"Egress\")")
        denied = [", ".join(ips)] if ips else []
        denied += [f"host names {', '.join(names)}"] if names else []
        return f"{self.tool} may not connect to {'; '.join(denied)}"

    def _wait_for_start(self, split: Split) -> bool:
        """Report the part ready and wait for the common start; False (outcome set) if it must not run."""
        self._note(f"part {split.index + 1} of {split.count} (share {float(split.share):.4g}, execution segment "
                   f"{split.segment()}) is ready; waiting for every part")
        waiting_until = time.monotonic() + self.time_limit_s

        def give_up() -> bool:
            return self.handle.cancel.is_set() or self.ctx.state.shutting_down

        while True:
            if self.handle.cancel.is_set():
                self._set(Outcome.CANCELLED, self.handle.cancel_reason or "cancelled before the part started")
                return False
            if self.ctx.state.shutting_down:
                self._set(Outcome.AGENT_ERROR, f"agent '{self.cfg.agent_id}' was shut down before the part started")
                return False
            if time.monotonic() > waiting_until:
                self._set(Outcome.TIMED_OUT, f"the other parts were not ready within {self.time_limit_s:g}s")
                return False
            try:
                answer = self.ctx.reporter.ready(self.run_id, give_up=give_up)
                signal = StartSignal.from_dict(answer) if answer is not None else None
            except ClaimRefused as exc:
                self._note(f"not starting: {exc}")
                self._set(Outcome.CANCELLED, f"the split run ended before this part started: {exc}")
                return False
            except (TransportError, ProtocolError) as exc:
                self._set(Outcome.AGENT_ERROR, f"agent '{self.cfg.agent_id}' could not learn when to start: {exc}")
                return False
            if signal is not None and signal.state == StartState.START:
                start = time.monotonic() + signal.start_in_s
                while (left := start - time.monotonic()) > 0:
                    if self.handle.cancel.is_set():
                        self._set(Outcome.CANCELLED, self.handle.cancel_reason or "cancelled before the part started")
                        return False
                    time.sleep(min(left, 0.05))
                return True
            time.sleep(READY_POLL_S)

    def _follow(self, policy) -> None:
        """Stream while the tool runs; stop it on cancel, time limit, bad output or shutdown."""
        process = self.process
        deadline = process.started_at + self.time_limit_s
        next_stream = 0.0
        while process.poll() is None:
            now = time.monotonic()
            if not process.stopping:
                reason = self._stop_reason(now, deadline)
                if reason:
                    self._set(*reason)
                    self._note(f"stopping {self.tool}: {reason[1]}")
                    process.request_stop(policy)
                    self._disk_kill_over = max(self.cfg.work_cap_bytes, self.disk.last.bytes if self.disk.last else 0)
            elif self._disk_kill_over and self.disk.due(now):
                self._watch_disk_while_stopping()
            process.enforce()
            if now >= next_stream:
                self._stream()
                next_stream = now + self.cfg.stream_interval_s
            time.sleep(LOOP_S)
        self.exit_code = process.poll()
        process.finish()

    def _stop_reason(self, now: float, deadline: float) -> tuple[Outcome, str] | None:
        if self.handle.cancel.is_set():
            return Outcome.CANCELLED, self.handle.cancel_reason or "cancelled from the control plane"
        if now >= deadline:
            return Outcome.TIMED_OUT, f"the run exceeded its time limit of {self.time_limit_s:g}s"
        if self.ctx.state.shutdown_deadline_passed():
            return Outcome.AGENT_ERROR, (
                f"agent '{self.cfg.agent_id}' was shut down during the run; the tool was stopped "
                f"after the {self.cfg.shutdown_grace_s:g}s shutdown grace period")
        if self.outcome == Outcome.TOOL_FAILED:  # the reader could not parse the output
            return Outcome.TOOL_FAILED, self.error
        if self.disk.due(now) and (reason := self.disk.over(self.disk.measure())):
            return Outcome.TOOL_FAILED, reason
        return None

    def _watch_disk_while_stopping(self) -> None:
        """Kill the tool at once if its work dir grows by another tenth of the cap during its grace."""
        usage = self.disk.measure()
        if usage is not None and usage.bytes > self._disk_kill_over + self.cfg.work_cap_bytes // 10:
            self._note(f"{self.tool} kept filling its work directory while it was stopping "
                       f"({usage.bytes} bytes measured); killed at once")
            self.process.kill_now()
            self._disk_kill_over = 0  # once

    def _conclude(self, adapter) -> None:
        elapsed = time.monotonic() - self.process.started_at
        self._stream()
        try:
            self.result = self.reader.finish(self.apdex_t_ms)
        except (ParseError, ValueError) as exc:
            self.result = None
            self._set(Outcome.TOOL_FAILED, f"cannot read {self.tool}'s output: {exc}")
        else:
            rest = [p.to_dict() for p in self.result.series[self.series_count:]]
            if rest:
                self.ctx.reporter.series(self.run_id, rest)
                self.series_count += len(rest)
        code = self.exit_code
        exit_outcome = adapter.classify_exit(code)
        if self.process.killed:
            self._note(f"{self.tool} did not stop within its grace period and was killed")
        self._note(f"{self.tool} exited with code {code} after {elapsed:.1f}s ({exit_outcome.reason})")
        if self.process.discarded_bytes:
            self._note(f"{self.process.discarded_bytes} bytes of output beyond the cap were discarded")
        if exit_outcome.ok:
            self._set(Outcome.COMPLETED)
        else:
            self._set(Outcome.TOOL_FAILED, exit_outcome.reason)

    # -- streaming -----------------------------------------------------------------------
    def _stream(self) -> None:
        if self.process is not None:
            self._send_text(self.process.take_output())
        if self.reader is not None and self.outcome != Outcome.TOOL_FAILED:
            try:
                points = self.reader.poll(time.time())
            except ParseError as exc:
                self._set(Outcome.TOOL_FAILED, f"cannot read {self.tool}'s output: {exc}")
                points = []
            if points:
                self.ctx.reporter.series(self.run_id, [p.to_dict() for p in points])
                self.series_count += len(points)
        counts = (self.series_count, self.log_seq)
        if counts != self._marker_counts:
            self.handle.series_count, self.handle.log_chunk_count = counts
            self._marker_counts = counts
            self.ctx.state.write_marker(self.handle, work_dir=str(self.work_dir or ""))

    def _send_text(self, text: str) -> None:
        if not text:
            return
        pieces = [text[i:i + CHUNK_CHARS] for i in range(0, len(text), CHUNK_CHARS)]
        for first in range(0, len(pieces), CHUNKS_PER_POST):
            chunks = [{"seq": self.log_seq + n, "text": piece}
                      for n, piece in enumerate(pieces[first:first + CHUNKS_PER_POST])]
            self.ctx.reporter.logs(self.run_id, chunks)
            self.log_seq += len(chunks)

    def _note(self, line: str) -> None:
        """A line of the agent's own in the run's log (flushed with the tool's output)."""
        pending = self.process.take_output() if self.process is not None else ""
        if pending and not pending.endswith("\n"):
            pending += "\n"
        self._send_text(f"{pending}{MARKER} {line}\n")

    # -- the end -------------------------------------------------------------------------
    def _report(self) -> None:
        if self.outcome is None:
            self._set(Outcome.AGENT_ERROR, "the run ended without an outcome")
        result = self.result
        if result is not None and result.count == 0 and self.outcome != Outcome.COMPLETED:
            result = None  # the tool produced nothing
        error = "" if self.outcome == Outcome.COMPLETED else (self.error or self.outcome)[:MAX_ERROR_CHARS]
        report = RunReport(self.outcome, exit_code=self.exit_code, error=error, result=result,
                           series_count=self.series_count, log_chunk_count=self.log_seq, claim_id=self.claim_id)
        self.ctx.reporter.result(self.run_id, report.to_dict())
        log.info("run %s (%s) ended: %s%s; %d series points, %d log chunks", self.run_id, self.tool,
                 self.outcome, f" ({self.error})" if self.error else "", self.series_count, self.log_seq)
