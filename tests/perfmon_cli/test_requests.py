"""The CLI and a run's per-request breakdown: one JUnit testcase per request name, and `perfmon compare`.

As in test_cli.py, the CLI runs as the installed entry point against the live server.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from perfmon.runs.judge import breakdown
from perfmon.runs.models import Run
from perfmon_cli import codes
from runners.protocol import RunReport
from runners.records import RequestRecord
from runners.result import ResultBuilder
from tests.conftest import require
from tests.factories import make_agent, make_monitor
from tests.perfmon_cli.test_cli import PERFMON, cli, finished, junit_root, play_agent

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def agent(acme):
    return make_agent("acme-ci", tenant=acme)


def shop_result(*, home_ms: float = 40.0, login_errors: int = 3):
    """30 GET home (no errors) and 10 POST login, ``login_errors`` of them failed (503s, then a timeout)."""
    builder = ResultBuilder()
    start = time.time() - 20
    for i in range(30):
        builder.add(RequestRecord(ts=start + i * 0.1, latency_ms=home_ms, status=200, name="home", method="GET"))
    for i in range(10):
        timeout = i == login_errors - 1
        status = 0 if timeout else 503 if i < login_errors else 200
        builder.add(RequestRecord(ts=start + i * 0.2, latency_ms=120.0, status=status, failed=timeout,
                                  name="login", method="POST", error="request timeout" if timeout else ""))
    return builder.result()


def test_junit_has_a_testcase_per_request_name_failed_when_it_had_errors(live_server, acme, acme_key, agent,
                                                                       tmp_path):
    monitor = make_monitor(acme, name="Shop", thresholds={"errorRatePercent": 50})
    junit, result_json = tmp_path / "junit.xml", tmp_path / "result.json"
    proc = cli("run", "Shop", "--wait", "--poll", "0.2", "--junit", str(junit), "--json", str(result_json),
               url=live_server.url, key=acme_key)
    play_agent(monitor, agent, report=RunReport(outcome="completed", exit_code=0, result=shop_result()))
    code, _, err = finished(proc)

    assert code == codes.PASS, err  # the run passed its thresholds: request failures do not change the verdict
    suite = junit_root(junit).find("testsuite")
    assert (suite.attrib["tests"], suite.attrib["failures"], suite.attrib["errors"]) == ("3", "1", "0")
    run_case, home, login = suite.findall("testcase")
    assert (run_case.attrib["classname"], run_case.attrib["name"]) == ("perfmon.monitor", "Shop")
    assert run_case.find("failure") is None
    assert [(c.attrib["classname"], c.attrib["name"]) for c in (home, login)] == [
        ("perfmon.request", "GET home"), ("perfmon.request", "POST login")]
    assert home.find("failure") is None and home.attrib["time"] == "0.040"
    figures = {p.attrib["name"]: p.attrib["value"] for p in home.find("properties")}
    assert figures["request.name"] == "home" and figures["request.method"] == "GET"
    assert (figures["count"], figures["errors"], figures["statusCodes"]) == ("30", "0", "200=30")
    assert float(figures["p95"]) == pytest.approx(40.0, rel=0.001)
    assert {"p50", "p90", "p99", "avg", "min", "max", "throughput", "errorRate"} <= set(figures)
    failure = login.find("failure")
    assert failure.attrib["type"] == "RequestErrors"
    assert failure.attrib["message"] == "3 of 10 requests failed (30.00 %): HTTP 503 (2); request timeout (1)"
    assert [c["cause"] for c in json.loads(failure.text)] == ["HTTP 503", "request timeout"]
    login_figures = {p.attrib["name"]: p.attrib["value"] for p in login.find("properties")}
    assert login_figures["statusCodes"] == "0=1,200=7,503=2"

    document = json.loads(result_json.read_text())
    assert [(r["name"], r["count"], r["errors"]) for r in document["requests"]] == [("home", 30, 0),
                                                                                    ("login", 10, 3)]
    assert [(e["cause"], e["count"]) for e in document["errors"]] == [("HTTP 503", 2), ("request timeout", 1)]


def test_a_breached_threshold_of_one_request_name_fails_its_testcase(live_server, acme, acme_key, agent, tmp_path):
    monitor = make_monitor(acme, name="Strict login", thresholds={"requests": {"login": {"errorRatePercent": 10}}})
    junit = tmp_path / "junit.xml"
    proc = cli("run", "Strict login", "--wait", "--poll", "0.2", "--junit", str(junit), url=live_server.url,
               key=acme_key)
    play_agent(monitor, agent, report=RunReport(outcome="completed", exit_code=0, result=shop_result()))
    code, _, err = finished(proc)

    assert code == codes.FAIL, err
    suite = junit_root(junit).find("testsuite")
    assert (suite.attrib["tests"], suite.attrib["failures"]) == ("3", "2")
    run_case, home, login = suite.findall("testcase")
    assert run_case.find("failure").attrib["type"] == "ThresholdBreached"
    assert home.find("failure") is None
    failure = login.find("failure")
    assert failure.attrib["type"] == "ThresholdBreached"
    message = failure.attrib["message"]
    assert message == ("errorRatePercent: actual 30.0 > threshold 10.0; "
                       "3 of 10 requests failed (30.00 %): HTTP 503 (2); request timeout (1)"), message
    assert json.loads(failure.text)["breaches"][0]["request"] == "login"


def test_a_run_without_a_result_has_only_its_own_testcase(live_server, acme, acme_key, agent, tmp_path):
    monitor = make_monitor(acme, name="Crashes")
    junit = tmp_path / "junit.xml"
    proc = cli("run", "Crashes", "--wait", "--poll", "0.2", "--junit", str(junit), url=live_server.url, key=acme_key)
    play_agent(monitor, agent, report=RunReport(outcome="tool_failed", exit_code=107, error="k6 exited 107"))
    code, _, err = finished(proc)
    assert code == codes.ERROR, err
    suite = junit_root(junit).find("testsuite")
    assert (suite.attrib["tests"], suite.attrib["errors"]) == ("1", "1")


# --- compare -----------------------------------------------------------------------------------

def stored_run(tenant, monitor, run_id: str, result) -> Run:
    """A finished run holding ``result`` as the judge stores it."""
    metrics = {key: value for key, value in result.to_dict().items()
               if key not in ("histogram", "series", "requests", "checks")}
    return Run.all_tenants.create(id=uuid.UUID(run_id), tenant=tenant, monitor=monitor, test=monitor.test, tool="k6",
                                  status="pass", metrics=metrics, histogram=result.histogram, **breakdown(result))


@pytest.fixture
def two_runs(acme):
    monitor = make_monitor(acme, name="Compared")
    before = stored_run(acme, monitor, "0d0afcb2-1111-4000-8000-000000000001", shop_result(home_ms=100.0))
    after = stored_run(acme, monitor, "7c41e0aa-2222-4000-8000-000000000002",
                       shop_result(home_ms=150.0, login_errors=5))
    return before, after


def test_compare_prints_the_runs_and_their_requests_side_by_side(live_server, acme_key, two_runs):
    before, after = two_runs
    # As docs/ci.md prints it: ids shortened as the dashboard shows them.
    code, out, err = finished(cli("compare", "0d0afcb2", "7c41e0aa", url=live_server.url, key=acme_key))
    assert code == codes.PASS, err
    assert "runs compared" in out and "0d0afcb2" in out and "7c41e0aa" in out
    assert "requests compared: count, errors, p95 (ms)" in out
    home = next(line for line in out.splitlines() if "GET home" in line)
    assert "30 / 0 / 100.0" in home and "30 / 0 / 150.0 (+50.0 %)" in home, home
    login = next(line for line in out.splitlines() if "POST login" in line)
    assert "10 / 3 / 120.0" in login and "10 / 5 (+66.7 %) / 120.0 (+0.0 %)" in login, login
    requests_line = next(line for line in out.splitlines() if line.startswith("│ requests "))
    assert "40" in requests_line

    code, out, err = finished(cli("compare", str(before.pk), str(after.pk), "--metric", "max", "--json",
                                  url=live_server.url, key=acme_key))
    assert code == codes.PASS, err
    comparison = json.loads(out)
    assert [r["id"] for r in comparison["runs"]] == [str(before.pk), str(after.pk)]
    p50 = next(f for f in comparison["metrics"] if f["metric"] == "p50")
    assert p50["changes"][0] is None and p50["changes"][1] is not None
    assert [(r["name"], r["method"]) for r in comparison["requests"]] == [("home", "GET"), ("login", "POST")]


def test_the_jq_example_of_the_ci_docs_works_as_printed(live_server, acme_key, two_runs):
    require(shutil.which("jq") is not None, "jq")
    docs = (Path(__file__).resolve().parents[2] / "docs" / "ci.md").read_text()
    line = next(line for line in docs.splitlines() if line.startswith("perfmon compare") and "| jq" in line)
    env = {"PATH": f"{Path(PERFMON).parent}:/usr/bin:/bin", "PERFMON_URL": live_server.url, "PERFMON_API_KEY": acme_key}
    done = subprocess.run(["bash", "-o", "pipefail", "-c", line], env=env, capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    figure = json.loads(done.stdout)
    assert figure["metric"] == "p95" and figure["values"] == [pytest.approx(120.0), pytest.approx(150.0)]
    assert figure["changes"] == [None, pytest.approx(0.25)]


def test_compare_takes_three_runs_with_another_latency_figure(live_server, acme, acme_key, two_runs):
    third = stored_run(acme, two_runs[0].monitor, "9a9a9a9a-3333-4000-8000-000000000003",
                       shop_result(home_ms=50.0))
    code, out, err = finished(cli("compare", "0d0afcb2", "7c41e0aa", str(third.pk)[:8], "--metric", "avg",
                                  url=live_server.url, key=acme_key))
    assert code == codes.PASS, err
    assert "requests compared: count, errors, avg (ms)" in out
    home = next(line for line in out.splitlines() if "GET home" in line)
    assert "(+50.0 %)" in home and "(-50.0 %)" in home, home


def test_compare_refuses_a_wrong_number_of_runs_or_another_tenants(live_server, acme_key, globex_key, two_runs):
    before, after = two_runs
    url = live_server.url
    assert finished(cli("compare", "0d0afcb2", url=url, key=acme_key))[0] == codes.USAGE
    assert finished(cli("compare", "0d0afcb2", "7c41e0aa", "0d0afcb2", "7c41e0aa", url=url,
                        key=acme_key))[0] == codes.USAGE
    code, _, err = finished(cli("compare", "0d0afcb2", str(before.pk), url=url, key=acme_key))
    assert code == codes.USAGE and "once" in err
    assert finished(cli("compare", "0d0afcb2", str(uuid.uuid4()), url=url, key=acme_key))[0] == codes.NOT_FOUND
    assert finished(cli("compare", "0d0afcb2", "7c41e0aa", "--metric", "p42", url=url,
                        key=acme_key))[0] == codes.USAGE
    # Another tenant's runs do not exist for this key, shortened or whole.
    assert finished(cli("compare", "0d0afcb2", "7c41e0aa", url=url, key=globex_key))[0] == codes.NOT_FOUND
    code, out, _ = finished(cli("compare", str(before.pk), str(after.pk), url=url, key=globex_key))
    assert code == codes.NOT_FOUND and out == ""
