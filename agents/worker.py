"""``perfmon-agent run``: the agent's own Celery worker plus its reporter and heartbeat.

The Celery app is the agent's, configured from its config file (no Django):
it consumes only ``agent.<id>``, acks late with a prefetch of one per slot,
and runs ``capacity`` runs at once in the ``threads`` pool, so the task
threads, the heartbeat and the reporter share one AgentState (cancel
requests reach a run by an Event, not across processes). Celery's own task
time limits are not used: the threads pool cannot enforce them, and the
executor enforces each run's wall-clock limit itself, stopping the tool's
process group gracefully rather than killing a worker.

Shutdown (SIGTERM or Ctrl-C once): Celery stops taking messages and waits
for the running tasks; each run may finish within ``shutdown_grace_s``,
after which its tool is stopped and the run reported as ``agent_error``.
Then the heartbeat stops and the reporter sends what is spooled for up to
``shutdown_flush_s``; anything still unsent stays on disk for the next start.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import time
import uuid
import warnings
from pathlib import Path

import psutil
from celery import Celery
from celery.exceptions import Reject
from celery.signals import worker_ready, worker_shutting_down
from kombu import Exchange, Queue

from agents import __version__
from agents.client import ControlPlane
from agents.config import AgentConfig
from agents.executor import AgentContext, ShuttingDown, execute_run, remove_tree
from agents.heartbeat import Heartbeat
from agents.reporter import Reporter
from agents.spool import Spool
from agents.state import AgentState
from agents.tools import RunAs, ToolCatalog
from runners.protocol import EXECUTE_RUN, Outcome, RunReport

log = logging.getLogger("agents")

# Celery warns about workers running as root. A root agent is the supported way to
# run tools as another user (run_as_user); the tools never run as root themselves.
warnings.filterwarnings("ignore", message=".*superuser privileges.*")


def make_celery(config: AgentConfig, ctx: AgentContext | None) -> Celery:
    """The agent's Celery app, with EXECUTE_RUN registered (``ctx`` None: registration only)."""
    # fixups=[]: Celery would set Django up whenever DJANGO_SETTINGS_MODULE is in the
    # environment (a host that also runs the control plane); the agent never loads Django.
    app = Celery(f"perfmon-agent-{config.agent_id}", set_as_current=False, fixups=[])
    queue = config.queue
    app.conf.update(
        broker_url=config.broker_url,
        broker_transport_options=config.broker_transport_options,
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,  # an agent waits out a broker outage
        task_queues=(Queue(queue, Exchange(queue, type="direct"), routing_key=queue),),
        task_default_queue=queue,
        task_acks_late=True,
        worker_prefetch_multiplier=1,
        worker_concurrency=config.capacity,
        worker_pool="threads",
        task_ignore_result=True,
        result_backend=None,
        accept_content=["json"],
        task_serializer="json",
        # No broadcast control or events: the filesystem transport has no fanout,
        # and an agent answers only to its queue.
        worker_enable_remote_control=False,
        worker_send_task_events=False,
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
    )

    @app.task(name=EXECUTE_RUN, bind=True, acks_late=True, ignore_result=True)
    def execute(task, payload):
        if ctx is None:
            raise RuntimeError("this app only registers the task")
        try:
            return execute_run(ctx, payload)
        except ShuttingDown:
            # Not claimed: back to the queue for the next start (or another delivery).
            raise Reject("the agent is shutting down", requeue=True) from None

    return app


def prepare_dirs(config: AgentConfig) -> None:
    """Create the work root (0711: the run-as user may pass through, not list) and the spool."""
    work_root = Path(config.work_root)
    work_root.mkdir(parents=True, exist_ok=True)
    os.chmod(work_root, 0o711)  # noqa: S103 - traverse only (no read): the run-as user reaches its own run dir
    # Tool probes interrupted by a kill leave their scratch dirs; a live probe is seconds old.
    for stale in work_root.glob("probe-*"):
        if time.time() - stale.stat().st_mtime > 600:
            remove_tree(stale)


def _count(value) -> int | None:
    """A count from a run marker; None (unknown) when an unreadable marker lacks it."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def stop_leftover_tool(marker: dict) -> bool:
    """SIGKILL the tool's process group a dead agent left running; True if one was stopped.

    Tools run in their own session, so they outlive an agent killed alone (the
    OOM killer, a crash) and would go on sending load. The group is only
    killed when its leader is still the process the marker names (same pid
    and start time), never a later process that reused the pid.
    """
    pgid, started = marker.get("tool_pgid"), marker.get("tool_started")
    if not isinstance(pgid, int) or isinstance(pgid, bool) or pgid <= 1 or not isinstance(started, int | float):
        return False
    try:
        if abs(psutil.Process(pgid).create_time() - float(started)) > 0.01:
            return False
        os.killpg(pgid, signal.SIGKILL)
    except (psutil.Error, ProcessLookupError, PermissionError):
        return False
    return True


def _claim(value) -> str | None:
    """The marker's claim id when it is one (a UUID); None for a marker of an agent without claims."""
    try:
        return str(uuid.UUID(str(value))) if value else None
    except ValueError:
        return None


def recover(config: AgentConfig, state: AgentState, reporter: Reporter) -> int:
    """Report runs an earlier agent process left unfinished, stop their tools, remove their work dirs."""
    count = 0
    for marker in state.leftover_markers():
        run_id = str(marker.get("run_id"))
        if stop_leftover_tool(marker):
            log.warning("run %s: stopped its tool (process group %s), left running by an earlier agent process",
                        run_id, marker["tool_pgid"])
        work_dir = marker.get("work_dir") or ""
        if work_dir and Path(work_dir).parent == Path(config.work_root) and Path(work_dir).exists():
            remove_tree(Path(work_dir))
        reporter.result(run_id, RunReport(
            Outcome.AGENT_ERROR,
            error=f"agent '{config.agent_id}' stopped unexpectedly while running this run "
                  "(killed, crashed or the host restarted)",
            series_count=_count(marker.get("series_count")),
            log_chunk_count=_count(marker.get("log_chunk_count")),
            # The claim the run was started under: refused (and nothing changed) if the control plane
            # has since ended the run as lost or given it to another claim.
            claim_id=_claim(marker.get("claim_id")),
        ).to_dict())
        state.end(run_id)
        log.warning("run %s was left running by an earlier agent process; reported it as lost", run_id)
        count += 1
    return count


def run_agent(config: AgentConfig) -> int:
    """Run the agent until it is told to stop; returns the process exit code.

    Raises LookupError/PermissionError (run-as user), SpoolLocked (another
    agent uses this spool) and OSError (directories) before anything starts.
    """
    run_as = RunAs.resolve(config.effective_run_as())
    prepare_dirs(config)
    spool = Spool(Path(config.spool_dir), max_bytes=config.spool_max_bytes)
    try:
        state = AgentState(config.running_dir, shutdown_grace_s=config.shutdown_grace_s)
        client = ControlPlane(config.server_url, config.credential, timeout=config.http_timeout_s,
                              ca_bundle=config.ca_bundle, user_agent=f"perfmon-agent/{__version__}")
        reporter = Reporter(
            client, spool, on_cancel=lambda run_id: state.request_cancel(run_id, "cancelled from the control plane"),
            initial_backoff_s=config.retry_initial_backoff_s, max_backoff_s=config.retry_max_backoff_s,
            flush_interval_s=config.flush_interval_s)
        catalog = ToolCatalog(tool_paths=config.tool_paths, tool_dirs=config.tool_dirs, run_as=run_as,
                              enabled=config.enabled_tools,
                              scratch_root=Path(config.work_root))
        catalog.refresh()
        if run_as.name:
            log.info("tools run as user %s", run_as.name)
        recover(config, state, reporter)
        reporter.start()
        heartbeat = Heartbeat(client, state, catalog, interval_s=config.heartbeat_interval_s,
                              capacity=config.capacity, server_url=config.server_url, disk_path=config.work_root)
        heartbeat.start()
        ctx = AgentContext(config=config, reporter=reporter, catalog=catalog, state=state, run_as=run_as)
        app = make_celery(config, ctx)

        def on_shutdown(**_kwargs):
            state.begin_shutdown()

        def on_ready(**_kwargs):
            log.info("perfmon-agent %s ready: consuming %s with %d slot(s)", config.agent_id, config.queue,
                     config.capacity)

        worker_shutting_down.connect(on_shutdown, weak=False)
        worker_ready.connect(on_ready, weak=False)
        worker = app.Worker(
            hostname=f"{config.agent_id}@{socket.gethostname()}", queues=[config.queue], pool_cls="threads",
            concurrency=config.capacity, loglevel=logging.getLevelName(logging.getLogger().level),
            without_gossip=True, without_mingle=True, without_heartbeat=True, optimization="fair",
        )
        try:
            worker.start()
        finally:
            state.begin_shutdown()
            log.info("perfmon-agent %s stopping: sending what is spooled", config.agent_id)
            heartbeat.stop()
            heartbeat.beat()  # the runs are over: tell the control plane at once
            left = reporter.stop(flush_timeout=config.shutdown_flush_s)
            log.info("perfmon-agent %s stopped (%d posts left in the spool)", config.agent_id, left)
        return worker.exitcode or 0
    finally:
        spool.close()
