"""The `perfmon` CLI against a live server with real API keys; the test plays the agent.

The CLI runs as the installed entry point in a subprocess and talks HTTP to
pytest-django's live server; the test claims and judges the run through the
same services the agent API calls (claim_run, store_log_chunks, finish_run).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from perfmon.runs.ingest import claim_run, store_log_chunks, store_series
from perfmon.runs.judge import finish_run
from perfmon.runs.models import Run, RunLogChunk
from perfmon_cli import codes
from runners.adapters import get_adapter
from runners.protocol import RunReport
from runners.records import RequestRecord
from runners.result import ResultBuilder
from tests.factories import make_agent, make_monitor, make_test

PERFMON = str(Path(sys.executable).parent / "perfmon")
pytestmark = pytest.mark.django_db(transaction=True)


def cli(*args: str, url: str, key: str = "", **env: str) -> subprocess.Popen:
    environment = {"PATH": "/usr/bin:/bin", "PERFMON_URL": url, "PERFMON_API_KEY": key, "COLUMNS": "200", **env}
    return subprocess.Popen([PERFMON, *args], env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def finished(proc: subprocess.Popen, timeout: float = 30) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def junit_root(path: Path) -> ET.Element:
    """The report, parsed strictly: it must be well-formed XML with <testsuites> at the root."""
    root = ET.fromstring(path.read_bytes())  # noqa: S314 - a file this test just had written
    assert root.tag == "testsuites" and path.read_bytes().startswith(b"<?xml")
    return root


def result(latency_ms: float, *, count: int = 20, errors: int = 0):
    builder = ResultBuilder()
    now = time.time() - 10
    for i in range(count):
        builder.add(RequestRecord(ts=now + i * 0.1, latency_ms=latency_ms, status=500 if i < errors else 200,
                                  failed=i < errors))
    return builder.result()


def play_agent(monitor, agent, *, report: RunReport, log: str = "running the tool\n", test=None,
               series=()) -> Run:
    """Wait for the CLI's run, claim it, stream a log chunk (and series points) and report the end."""
    deadline = time.monotonic() + 20
    runs = Run.all_tenants.filter(monitor=monitor) if monitor else Run.all_tenants.filter(test=test)
    while (run := runs.first()) is None:
        assert time.monotonic() < deadline, "the CLI never requested a run"
        time.sleep(0.05)
    claim_run(agent=agent, run_id=run.pk, claim_id=uuid.uuid4())
    store_log_chunks(agent=agent, run_id=run.pk, chunks=[(0, log)])
    if series:
        store_series(agent=agent, run_id=run.pk, points=list(series))
    time.sleep(0.6 if series else 0.3)  # let the CLI see the run running
    return finish_run(agent=agent, run_id=run.pk, report=report)


@pytest.fixture
def agent(acme):
    return make_agent("acme-ci", tenant=acme)


def test_run_wait_passes_with_exit_0_and_writes_junit_and_json(live_server, acme, acme_key, agent, tmp_path):
    monitor = make_monitor(acme, name="Checkout", thresholds={"latencyMs": 1000})
    junit, result_json = tmp_path / "junit.xml", tmp_path / "result.json"
    proc = cli("run", "Checkout", "--wait", "--poll", "0.2", "--junit", str(junit), "--json", str(result_json),
               url=live_server.url, key=acme_key)
    run = play_agent(monitor, agent, report=RunReport(outcome="completed", exit_code=0, result=result(50)),
                     log="k6 says hello\n")
    code, out, err = finished(proc)
    assert code == codes.PASS, err
    assert "PASS" in err and "k6 says hello" in err
    document = json.loads(result_json.read_text())
    assert document["status"] == "pass" and document["passed"] is True and document["exitCode"] == 0
    assert document["run"]["id"] == str(run.pk)
    assert document["target"] == {"kind": "monitor", "id": str(monitor.pk), "name": "Checkout"}
    assert document["run"]["metrics"]["p95"] == pytest.approx(50, rel=0.01)
    assert document["reason"] is None and document["run"]["reason"] is None
    # The link a person follows: the run's dashboard page, not the API.
    assert document["runUrl"] == f"{live_server.url}/runs/{run.pk}/"
    suite = junit_root(junit).find("testsuite")
    # the run, then its one request name (the test's requests carry none): docs/ci.md
    assert suite.attrib["tests"] == "2" and suite.attrib["failures"] == "0" and suite.attrib["errors"] == "0"
    assert suite.findall("testcase")[1].attrib["name"] == "(unnamed)"
    case = suite.find("testcase")
    assert case.attrib["name"] == "Checkout" and case.find("failure") is None
    assert "k6 says hello" in case.find("system-out").text
    properties = {p.attrib["name"]: p.attrib["value"] for p in case.find("properties")}
    assert properties["run.id"] == str(run.pk) and properties["run.status"] == "pass"


def test_run_wait_fails_with_exit_1_and_a_junit_failure(live_server, acme, acme_key, agent, tmp_path):
    monitor = make_monitor(acme, name="Search", thresholds={"latencyMs": 100})
    junit, result_json = tmp_path / "junit.xml", tmp_path / "result.json"
    proc = cli("run", str(monitor.pk), "--wait", "--poll", "0.2", "--junit", str(junit),
               "--json", str(result_json), url=live_server.url, key=acme_key)
    play_agent(monitor, agent, report=RunReport(outcome="completed", exit_code=0, result=result(250)),
               log="\x1b[31mansi colours\x1b[0m, a bell \x07 and a backspace \x08\n")
    code, _, err = finished(proc)
    assert code == codes.FAIL, err
    assert json.loads(result_json.read_text())["status"] == "fail"
    suite = junit_root(junit).find("testsuite")  # valid XML despite the control characters
    assert suite.attrib["failures"] == "1"
    failure = suite.find("testcase/failure")
    assert failure.attrib["type"] == "ThresholdBreached"
    assert "latencyMs" in failure.attrib["message"]


def test_run_that_errors_exits_3_and_says_why_in_junit_json_and_summary(live_server, acme, acme_key, agent,
                                                                          tmp_path):
    monitor = make_monitor(acme, name="Broken")
    junit, result_json = tmp_path / "junit.xml", tmp_path / "result.json"
    proc = cli("run", "broken", "--wait", "--poll", "0.2", "--junit", str(junit), "--json", str(result_json),
               url=live_server.url, key=acme_key)
    why = get_adapter("k6").classify_exit(107).reason  # what the agent reports for k6's exit 107
    run = play_agent(monitor, agent, report=RunReport(outcome="tool_failed", exit_code=107, error=why))
    code, _, err = finished(proc)
    assert code == codes.ERROR, err
    assert why == "k6 exited 107: script exception"
    suite = junit_root(junit).find("testsuite")
    assert suite.attrib["errors"] == "1"
    error = suite.find("testcase/error")
    assert (error.attrib["type"], error.attrib["message"], error.text) == ("error", why, why)
    properties = {p.attrib["name"]: p.attrib["value"] for p in suite.find("testcase/properties")}
    assert properties["run.reason"] == why and properties["run.url"] == f"{live_server.url}/runs/{run.pk}/"
    document = json.loads(result_json.read_text())
    assert (document["status"], document["reason"], document["run"]["reason"]) == ("error", why, why)
    assert f"ERROR run {run.pk} (exit 3): {why}" in err


def test_a_failed_runs_summary_names_the_breach(live_server, acme, acme_key, agent, tmp_path):
    monitor = make_monitor(acme, name="Sluggish", thresholds={"latencyMs": 100})
    proc = cli("run", "Sluggish", "--wait", "--poll", "0.2", "--json", str(tmp_path / "r.json"),
               url=live_server.url, key=acme_key)
    run = play_agent(monitor, agent, report=RunReport(outcome="completed", exit_code=0, result=result(250)))
    code, _, err = finished(proc)
    assert code == codes.FAIL, err
    reason = json.loads((tmp_path / "r.json").read_text())["reason"]
    assert reason and reason.startswith("thresholds breached") and "latency" in reason
    assert f"FAIL run {run.pk} (exit 1): {reason}" in err


def test_timeout_exits_5_and_leaves_the_run_on_the_server(live_server, acme, acme_key, agent, tmp_path):
    monitor = make_monitor(acme, name="Slow")
    code, _, err = finished(cli("run", "Slow", "--wait", "--timeout", "1", "--poll", "0.2",
                                "--json", str(tmp_path / "r.json"), url=live_server.url, key=acme_key))
    assert code == codes.TIMEOUT, err
    assert Run.objects.for_tenant(acme).get(monitor=monitor).status == "queued"
    assert json.loads((tmp_path / "r.json").read_text())["exitCode"] == codes.TIMEOUT


def test_timeout_can_cancel_the_run(live_server, acme, acme_key, agent):
    monitor = make_monitor(acme, name="Stuck")
    code, _, err = finished(cli("run", "Stuck", "--wait", "--timeout", "1", "--poll", "0.2", "--cancel-on-timeout",
                                url=live_server.url, key=acme_key))
    assert code == codes.TIMEOUT, err
    assert Run.objects.for_tenant(acme).get(monitor=monitor).status == "cancelled"
    assert "the run was cancelled" in err


def test_without_wait_prints_the_run_id_and_exits_0(live_server, acme, acme_key, agent):
    monitor = make_monitor(acme, name="Fire and forget")
    code, out, err = finished(cli("run", "Fire and forget", url=live_server.url, key=acme_key))
    assert code == codes.PASS, err
    assert out.strip() == str(Run.objects.for_tenant(acme).get(monitor=monitor).pk)


def test_a_second_run_while_one_is_active_is_rejected_with_exit_8(live_server, acme, acme_key, agent):
    make_monitor(acme, name="Busy")
    assert finished(cli("run", "Busy", url=live_server.url, key=acme_key))[0] == codes.PASS
    code, _, err = finished(cli("run", "Busy", url=live_server.url, key=acme_key))
    assert code == codes.REJECTED and "409" in err


def test_exit_codes_for_usage_auth_and_unknown_names(live_server, acme, acme_key, globex, globex_key):
    make_monitor(acme, name="Private")
    assert finished(cli("run", "Private", url="", key=acme_key))[0] == codes.USAGE
    assert finished(cli("run", "Private", url=live_server.url, key=""))[0] == codes.USAGE
    assert finished(cli("bogus-command", url=live_server.url, key=acme_key))[0] == codes.USAGE
    assert finished(cli("run", "Private", "--test", url=live_server.url, key=acme_key))[0] == codes.USAGE
    assert finished(cli("run", "Private", "--junit", "x.xml", url=live_server.url, key=acme_key))[0] == codes.USAGE
    code, _, err = finished(cli("run", "Private", url=live_server.url, key="pmk_nope_nope"))
    assert code == codes.AUTH and "401" in err
    # Another tenant's monitor does not exist for this key.
    assert finished(cli("run", "Private", url=live_server.url, key=globex_key))[0] == codes.NOT_FOUND
    assert finished(cli("monitors", url="http://127.0.0.1:9", key=acme_key))[0] == codes.SERVER
    assert Run.objects.for_tenant(acme).count() == 0


def test_monitors_runs_and_logs_commands(live_server, acme, acme_key, agent):
    monitor = make_monitor(acme, name="Listed")
    make_monitor(acme, name="Other")
    code, out, err = finished(cli("monitors", url=live_server.url, key=acme_key))
    assert code == 0, err
    assert "Listed" in out and "Other" in out and str(monitor.pk) in out
    # As on a terminal: the live panel instead of line-by-line output.
    proc = cli("run", "Listed", "--wait", "--poll", "0.2", url=live_server.url, key=acme_key, TTY_COMPATIBLE="1")
    run = play_agent(monitor, agent, report=RunReport(outcome="completed", exit_code=0, result=result(5)),
                     log="line one\nline two\n")
    code, _, err = finished(proc)
    assert code == codes.PASS and "PASS" in err and "p95 (ms)" in err, err
    code, out, err = finished(cli("runs", "Listed", "--json", url=live_server.url, key=acme_key))
    assert code == 0, err
    runs = json.loads(out)
    assert [r["id"] for r in runs] == [str(run.pk)] and runs[0]["status"] == "pass"
    code, out, _ = finished(cli("runs", url=live_server.url, key=acme_key))
    assert code == 0 and str(run.pk) in out
    code, out, _ = finished(cli("logs", str(run.pk), url=live_server.url, key=acme_key))
    assert code == 0 and out == "line one\nline two\n"
    assert finished(cli("logs", str(uuid.uuid4()), url=live_server.url, key=acme_key))[0] == codes.NOT_FOUND


def test_runs_a_perfscale_test_by_name_with_an_oidc_token(live_server, settings, acme, agent, tmp_path):
    from perfmon.accounts.provider import reset_cache
    from tests.oidc_provider.plugin import shared_provider

    provider = shared_provider()
    for name, value in provider.settings().items():
        setattr(settings, name, value)
    reset_cache()
    try:
        test = make_test(acme, name="API smoke")
        # A viewer may not start tasks: 403 is the auth exit code.
        code, _, err = finished(cli("run", "API smoke", "--test", url=live_server.url,
                                    PERFMON_TOKEN=provider.token("vera")))
        assert code == codes.AUTH and "403" in err
        proc = cli("run", "api smoke", "--test", "--wait", "--poll", "0.2", "--json", str(tmp_path / "r.json"),
                   "--junit", str(tmp_path / "j.xml"), url=live_server.url, PERFMON_TOKEN=provider.token("max"))
        run = play_agent(None, agent, test=test, report=RunReport(outcome="completed", exit_code=0, result=result(20)))
        code, _, err = finished(proc)
        assert code == codes.PASS, err
        document = json.loads((tmp_path / "r.json").read_text())
        assert document["target"] == {"kind": "test", "id": str(test.pk), "name": "API smoke"}
        assert document["run"]["id"] == str(run.pk) and document["run"]["metrics"]["totalRequests"] == 20
        assert junit_root(tmp_path / "j.xml").find("testsuite/testcase").attrib["classname"] == "perfmon.test"
    finally:
        reset_cache()


def test_run_wait_shows_live_interval_figures_while_the_run_goes(live_server, acme, acme_key, agent):
    monitor = make_monitor(acme, name="Live", thresholds={"latencyMs": 1000})
    proc = cli("run", "Live", "--wait", "--poll", "0.2", url=live_server.url, key=acme_key)
    measured = result(50, count=40, errors=4)
    run = play_agent(monitor, agent, report=RunReport(outcome="completed", exit_code=0, result=measured),
                     series=measured.series)
    code, _, err = finished(proc)
    assert code == codes.PASS, err
    total = sum(point.count for point in measured.series)
    assert total == 40
    # Printed while the run was still running: before the final status line.
    live = err.index(f"{total} requests, 4 errors (10.00 %)")
    assert live < err.index("status pass") and str(run.pk) in err


# --- shortened ids and whole tables ---------------------------------------------------------------


def _run(tenant, monitor, run_id: str, *, status: str = "pass", log: str = "") -> Run:
    run = Run.all_tenants.create(id=uuid.UUID(run_id), tenant=tenant, monitor=monitor, test=monitor.test,
                                 tool="k6", status=status)
    if log:
        RunLogChunk.all_tenants.create(run=run, seq=0, text=log)
    return run


def test_ids_shortened_as_the_dashboard_shows_them_are_accepted(live_server, acme, acme_key, agent):
    monitor = make_monitor(acme, name="Short ids", id=uuid.UUID("538ece11-0000-4000-8000-000000000001"))
    make_monitor(acme, name="Neighbour", id=uuid.UUID("538ecf00-0000-4000-8000-000000000002"))
    run = _run(acme, monitor, "0d0afcb2-1111-4000-8000-000000000001", log="from the short id\n")
    code, out, err = finished(cli("logs", "0d0afcb2", url=live_server.url, key=acme_key))
    assert (code, out) == (codes.PASS, "from the short id\n"), err
    code, out, err = finished(cli("logs", "0D0AFCB2-11", url=live_server.url, key=acme_key))
    assert (code, out) == (codes.PASS, "from the short id\n"), err
    code, out, err = finished(cli("runs", "538ece11", "--json", url=live_server.url, key=acme_key))
    assert code == codes.PASS, err
    assert [r["id"] for r in json.loads(out)] == [str(run.pk)]
    # `run` takes a shortened monitor id too: the new run is the monitor's.
    code, out, err = finished(cli("run", "538ece11", url=live_server.url, key=acme_key))
    assert code == codes.PASS, err
    assert Run.objects.for_tenant(acme).get(pk=out.strip()).monitor_id == monitor.pk


def test_an_ambiguous_or_too_short_id_is_a_usage_error_listing_the_candidates(live_server, acme, acme_key):
    monitor = make_monitor(acme, name="Twins", id=uuid.UUID("538ece11-0000-4000-8000-000000000001"))
    make_monitor(acme, name="Twin two", id=uuid.UUID("538ece11-9000-4000-8000-000000000002"))
    one = _run(acme, monitor, "0d0afcb2-1111-4000-8000-000000000001")
    two = _run(acme, monitor, "0d0afcb2-2222-4000-8000-000000000002")
    code, _, err = finished(cli("logs", "0d0afcb2", url=live_server.url, key=acme_key))
    assert code == codes.USAGE and str(one.pk) in err and str(two.pk) in err, err
    code, _, err = finished(cli("runs", "538ece11", url=live_server.url, key=acme_key))
    assert code == codes.USAGE and "Twins" in err and "Twin two" in err, err
    assert finished(cli("logs", "0d0af", url=live_server.url, key=acme_key))[0] == codes.USAGE
    assert finished(cli("logs", "ffffffff", url=live_server.url, key=acme_key))[0] == codes.NOT_FOUND
    assert Run.objects.for_tenant(acme).count() == 2


def test_a_shortened_id_never_reaches_another_tenants_run_or_monitor(live_server, acme, globex, globex_key):
    monitor = make_monitor(acme, name="Acme only", id=uuid.UUID("538ece11-0000-4000-8000-000000000001"))
    _run(acme, monitor, "0d0afcb2-1111-4000-8000-000000000001", log="acme's secret\n")
    code, out, _ = finished(cli("logs", "0d0afcb2", url=live_server.url, key=globex_key))
    assert (code, out) == (codes.NOT_FOUND, "")
    assert finished(cli("runs", "538ece11", url=live_server.url, key=globex_key))[0] == codes.NOT_FOUND
    assert finished(cli("run", "538ece11", url=live_server.url, key=globex_key))[0] == codes.NOT_FOUND
    assert Run.objects.for_tenant(acme).count() == 1


def test_tables_outside_a_terminal_are_not_cut_to_80_columns(live_server, acme, acme_key):
    name = "A monitor whose name is long enough to push every column past eighty characters"
    monitor = make_monitor(acme, name=name)
    run = _run(acme, monitor, str(uuid.uuid4()), status="error")
    for command in (("monitors",), ("runs",), ("runs", name)):
        # COLUMNS=80 is what a pipe or a CI log gets when nothing sets it.
        code, out, err = finished(cli(*command, url=live_server.url, key=acme_key, COLUMNS="80"))
        assert code == codes.PASS, err
        assert "…" not in out, out
        assert str(monitor.pk if command == ("monitors",) else run.pk) in out and name in out, out
