"""One run on the agent against a recording control plane: what its claim answer and its report carry."""

import json
import time

import pytest

from agents.client import ControlPlane
from agents.config import DEFAULT_EGRESS_DENY_IPS, AgentConfig
from agents.executor import AgentContext, execute_run
from agents.reporter import Reporter
from agents.spool import Spool
from agents.state import AgentState
from agents.tools import RunAs, ToolCatalog
from runners.protocol import ClaimAnswer, Outcome, RunAssignment, RunReport
from tests.agents.plane import Plane
from tests.runners.conftest import require_tool
from tests.runners.target import Target

RUN = "33333333-3333-3333-3333-333333333333"


@pytest.fixture
def plane():
    server = Plane().start()
    yield server
    server.stop()


def context(plane, tmp_path, *, spool_max_bytes=64 * 1024 * 1024, tools=("custom",), tool_paths=None,
            **changes) -> tuple[AgentContext, Spool]:
    config = AgentConfig(server_url=plane.url, agent_id="eu-1", credential="pma_test_secret",
                         broker_url="memory://", queue="agent.eu-1", work_root=str(tmp_path / "work"),
                         spool_dir=str(tmp_path / "spool"), stream_interval_s=0.2, **changes)
    (tmp_path / "work").mkdir()
    spool = Spool(tmp_path / "spool", max_bytes=spool_max_bytes)
    reporter = Reporter(ControlPlane(plane.url, config.credential, timeout=10), spool,
                        initial_backoff_s=0.05, max_backoff_s=0.2)
    catalog = ToolCatalog(scratch_root=tmp_path / "work", tool_paths=tool_paths)
    catalog.refresh(tools)
    ctx = AgentContext(config=config, reporter=reporter, catalog=catalog, state=AgentState(config.running_dir),
                       run_as=RunAs.resolve(""))
    return ctx, spool


def run_it(ctx, spool, tool="custom") -> dict:
    """Execute RUN, send everything spooled, return the run's outcome."""
    outcome = execute_run(ctx, RunAssignment(run_id=RUN, agent_id="eu-1", tool=tool, time_limit_s=60).to_dict())
    ctx.reporter.start()
    try:
        assert ctx.reporter.wait_idle(30)
    finally:
        ctx.reporter.stop()
        spool.close()
    return outcome


def test_a_claim_answer_it_cannot_read_ends_the_run_as_an_agent_error_without_running_it(plane, tmp_path):
    # The recording plane answers this claim like a stream post: no script, no parameters.
    ctx, spool = context(plane, tmp_path)
    assert run_it(ctx, spool) == Outcome.AGENT_ERROR
    (path, body), = plane.posts("result")
    report = RunReport.from_dict(body)
    assert report.outcome == Outcome.AGENT_ERROR
    assert "agent 'eu-1' cannot read the claim's answer: parameters: is required" in report.error
    assert plane.posts("logs") == [] and plane.posts("series") == []
    assert list((tmp_path / "work").iterdir()) == [] and ctx.state.leftover_markers() == []


STREAM_SCRIPT = """#!/bin/sh
printf '%s\\n' {lines} > "$1"
echo wrote the stream
"""


def test_the_report_counts_what_the_run_produced_even_when_the_spool_dropped_it(plane, tmp_path):
    # 12 requests over 3 whole seconds of the past: at least 3 one-second series points.
    start = float(int(time.time()) - 30)
    lines = [json.dumps({"perfmon_stream": 1})]
    lines += [json.dumps({"t": start + i * 0.25, "ms": 5.0, "status": 200}) for i in range(12)]
    script = STREAM_SCRIPT.format(lines=" ".join("'" + line + "'" for line in lines))
    plane.claims[RUN] = ClaimAnswer(run_id=RUN, tool="custom", script=script, script_filename="",
                                    parameters={}, thresholds={}, apdex_t_ms=500, time_limit_s=60,
                                    interval_s=1.0).to_dict()
    ctx, spool = context(plane, tmp_path, spool_max_bytes=1)  # full: every series and log post is dropped
    assert run_it(ctx, spool) == Outcome.COMPLETED
    (_, body), = plane.posts("result")
    report = RunReport.from_dict(body)
    assert report.outcome == Outcome.COMPLETED and report.result.count == 12
    assert report.series_count == len(report.result.series) >= 3
    assert report.log_chunk_count >= 1  # the agent's own lines and the script's output
    assert plane.posts("series") == [] and plane.posts("logs") == []
    assert spool.dropped >= 2


EGRESS_K6 = """
import http from 'k6/http';
export const options = { vus: 1, iterations: 4 };
export default function () { http.get(__ENV.URL); }
"""


def log_of(plane) -> str:
    return "".join(chunk["text"] for _, body in plane.posts("logs") for chunk in body["chunks"])


def claim_k6(plane, url: str) -> None:
    plane.claims[RUN] = ClaimAnswer(run_id=RUN, tool="k6", script=EGRESS_K6, script_filename="",
                                    parameters={"URL": url}, thresholds={}, apdex_t_ms=500, time_limit_s=60,
                                    interval_s=1.0).to_dict()


def test_the_agents_egress_deny_list_reaches_k6(plane, tmp_path):
    # The default lists plus the target's address: k6 never reaches it, and the log names every entry.
    k6 = require_tool("k6")
    with Target() as target:
        claim_k6(plane, target.url("/ok"))
        ctx, spool = context(plane, tmp_path, tools=("k6",), tool_paths={"k6": k6},
                             egress_deny_ips=[*DEFAULT_EGRESS_DENY_IPS, "127.0.0.1/32"])
        assert run_it(ctx, spool, tool="k6") == Outcome.COMPLETED
        assert target.served() == []
    (_, body), = plane.posts("result")
    report = RunReport.from_dict(body)
    assert report.result.count == 4 and report.result.errors == 4
    assert report.result.requests[0].causes == {"ip is blacklisted": 4}
    assert ("k6 may not connect to 169.254.0.0/16, fd00:ec2::254/128, 127.0.0.1/32; "
            "host names metadata.google.internal, metadata.goog") in log_of(plane)


def test_without_a_deny_list_k6_reaches_the_target_and_the_log_says_nothing_of_it(plane, tmp_path):
    k6 = require_tool("k6")
    with Target() as target:
        claim_k6(plane, target.url("/ok"))
        ctx, spool = context(plane, tmp_path, tools=("k6",), tool_paths={"k6": k6},
                             egress_deny_ips=[], egress_deny_hostnames=[])
        assert run_it(ctx, spool, tool="k6") == Outcome.COMPLETED
        assert target.counts() == {("/ok", 200): 4}
    (_, body), = plane.posts("result")
    assert RunReport.from_dict(body).result.errors == 0
    assert "may not connect" not in log_of(plane) and "egress" not in log_of(plane)


def test_a_tool_that_cannot_be_restricted_says_so_in_the_run_log(plane, tmp_path):
    plane.claims[RUN] = ClaimAnswer(run_id=RUN, tool="custom", script="#!/bin/sh\ntrue\n", script_filename="",
                                    parameters={}, thresholds={}, apdex_t_ms=500, time_limit_s=60,
                                    interval_s=1.0).to_dict()
    ctx, spool = context(plane, tmp_path)
    run_it(ctx, spool)
    assert ("custom cannot be restricted: the agent's egress deny list does not apply to it "
            '(docs/agent-install.md, "Egress")') in log_of(plane)
