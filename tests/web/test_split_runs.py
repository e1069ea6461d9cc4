"""A split run's page: the merged figures and charts, its parts side by side, their logs by part."""

from __future__ import annotations

import json
import re

import pytest
from django.urls import reverse

from perfmon.runs.models import Run, RunPart
from tests.factories import make_agent, make_monitor
from tests.web.helpers import add_logs, add_part_logs, add_part_series, add_series, make_run, make_split_run

pytestmark = pytest.mark.django_db


@pytest.fixture
def as_alice(client, alice):
    client.force_login(alice)
    return client


@pytest.fixture
def monitor(acme):
    return make_monitor(acme, name="Checkout", thresholds={"latencyMs": 500, "latencyPercentile": 95})


def _section(html: str, element_id: str) -> str:
    """The HTML of the <section> with ``element_id`` (the part cards nest no sections)."""
    match = re.search(rf'<section class="part" id="{element_id}".*?</section>', html, re.S)
    assert match, f"no section #{element_id}"
    return match.group(0)


def _figure(section: str, key: str) -> str:
    match = re.search(rf'data-figure="{key}">([^<]*)<', section)
    assert match, key
    return match.group(1)


def _json_script(html: str, element_id: str):
    match = re.search(rf'<script id="{element_id}" type="application/json">(.*?)</script>', html, re.S)
    return json.loads(match.group(1)) if match else None


def test_split_run_page_shows_each_parts_own_figures_side_by_side(as_alice, monitor):
    run = make_split_run(monitor)
    html = as_alice.get(reverse("web:run", args=[run.pk])).content.decode()

    assert re.search(r'<dd id="run-agent"><a href="#parts">split over 2 agents</a></dd>', html)
    assert 'id="parts"' in html
    eu, us = _section(html, "part-0"), _section(html, "part-1")
    assert 'href="/agents/eu-1/"' in eu and "eu-west-1" in eu and "60 %" in eu and "(3/5 of the load)" in eu
    assert 'href="/agents/us-1/"' in us and "us-east-1" in us and "40 %" in us and "(2/5 of the load)" in us
    assert 'class="badge status-completed">completed<' in eu
    # Each part's own figures: 30 and 20 requests a second for 5 s, at 40 ms and 160 ms.
    assert [_figure(eu, key) for key in ("count", "p50_ms", "p95_ms", "p99_ms", "error_rate", "throughput_rps")] \
        == ["150", "40.0 ms", "40.0 ms", "40.0 ms", "0.00 %", "30.0 req/s"]
    assert [_figure(us, key) for key in ("count", "p50_ms", "p95_ms", "p99_ms", "error_rate", "throughput_rps")] \
        == ["100", "160 ms", "160 ms", "160 ms", "0.00 %", "20.0 req/s"]
    assert 'id="chart-part-0"' in eu and 'id="chart-part-1"' in us
    # The run's own summary and charts are the merged ones.
    summary = html.split('id="summary"')[1].split("</div>\n\n")[0]
    assert ">250<" in summary and "50.0 req/s" in summary
    assert 'id="chart-latency"' in html


def test_split_run_charts_are_merged_for_the_run_and_each_parts_own_for_the_parts(as_alice, monitor):
    run = make_split_run(monitor, intervals=4)
    response = as_alice.get(reverse("web:run", args=[run.pk]))
    html = response.content.decode()

    merged = _json_script(html, "series-data")
    assert [point["count"] for point in merged] == [50] * 4  # 30 + 20 a second, side by side
    assert [point["rps"] for point in merged] == [50.0] * 4
    assert {round(point["p95"]) for point in merged} == {160} and {round(point["p50"]) for point in merged} == {40}
    parts = _json_script(html, "parts-data")
    assert [part["index"] for part in parts] == [0, 1]
    assert [point["count"] for point in parts[0]["series"]] == [30] * 4
    assert [point["count"] for point in parts[1]["series"]] == [20] * 4
    assert {round(point["p95"]) for point in parts[0]["series"]} == {40}
    assert {round(point["p95"]) for point in parts[1]["series"]} == {160}


def test_failed_part_shows_its_error_and_a_part_without_intervals_says_so(as_alice, monitor):
    run = make_split_run(monitor, status="error")
    RunPart.all_tenants.filter(run=run, index=1).update(status="failed", error="k6 exited with code 107")
    RunPart.all_tenants.filter(run=run, index=0).update(status="cancelled", error="stopped: part 1 failed")
    run.series.filter(part=1).delete()
    html = as_alice.get(reverse("web:run", args=[run.pk])).content.decode()

    failed = _section(html, "part-1")
    assert 'class="badge status-failed">failed<' in failed
    assert '<dd class="verdict-worse part-error">k6 exited with code 107</dd>' in failed
    assert 'id="chart-part-1"' not in failed and "this part recorded no intervals" in failed
    stopped = _section(html, "part-0")
    assert "stopped: part 1 failed" in stopped and 'id="chart-part-0"' in stopped


def test_running_split_run_has_a_chart_per_part_before_its_figures(as_alice, monitor):
    run = make_split_run(monitor, status="running", intervals=0)
    html = as_alice.get(reverse("web:run", args=[run.pk])).content.decode()
    for index in (0, 1):
        part = _section(html, f"part-{index}")
        assert f'id="chart-part-{index}"' in part and 'class="badge status-running">running<' in part
        assert _figure(part, "count") == "—" and _figure(part, "p95_ms") == "—"


def test_split_run_log_is_grouped_and_labelled_by_part_in_part_then_seq_order(as_alice, monitor):
    run = make_split_run(monitor)
    # Written interleaved, as two agents post them; each part's chunks out of seq order too.
    add_part_logs(run, 1, ["us line 1\n"], start_seq=1)
    add_part_logs(run, 0, ["eu line 0\n", "eu line 1\n"])
    add_part_logs(run, 1, ["us line 0\n"])
    html = as_alice.get(reverse("web:run", args=[run.pk])).content.decode()

    assert "<pre class=\"log\" id=\"log-tail\"" not in html
    eu = re.search(r'<pre class="log" id="log-part-0" data-part="0">(.*?)</pre>', html, re.S).group(1)
    us = re.search(r'<pre class="log" id="log-part-1" data-part="1">(.*?)</pre>', html, re.S).group(1)
    assert eu == "eu line 0\neu line 1\n" and us == "us line 0\nus line 1\n"
    assert html.index('id="log-part-0"') < html.index('id="log-part-1"')
    label = re.search(r'<h3 class="log-part" id="log-part-1-label">(.*?)</h3>', html).group(1)
    assert "Part 1 · us-1" in label and "us-east-1" in label
    assert [(c["part"], c["seq"]) for c in _json_script(html, "log-data")] == [(0, 0), (0, 1), (1, 0), (1, 1)]

    download = as_alice.get(reverse("web:run-log", args=[run.pk]))
    text = b"".join(download.streaming_content).decode()
    assert text == ("=== part 0 on agent eu-1 (eu-west-1) ===\neu line 0\neu line 1\n"
                    "\n=== part 1 on agent us-1 (us-east-1) ===\nus line 0\nus line 1\n")


def test_split_run_live_feed_follows_each_part_on_its_own_cursor(as_alice, monitor):
    run = make_split_run(monitor, status="running", intervals=3)
    add_part_logs(run, 0, ["eu 0\n", "eu 1\n"])
    add_part_logs(run, 1, ["us 0\n"])
    url = reverse("web:run-live", args=[run.pk])

    first = as_alice.get(url).json()
    assert [(c["part"], c["seq"]) for c in first["logs"]] == [(0, 0), (0, 1), (1, 0)]
    assert [(p["index"], p["status"], len(p["series"])) for p in first["parts"]] == [(0, "running", 3),
                                                                                   (1, "running", 3)]
    assert [point["count"] for point in first["series"]] == [50, 50, 50]

    start = run.started_at
    add_part_series(run, 0, 2, requests=30, latency_ms=40.0, start=start, start_seq=3)
    add_part_logs(run, 1, ["us 1\n"], start_seq=1)
    RunPart.all_tenants.filter(run=run, index=0).update(status="completed")
    news = as_alice.get(url, {"series_after": 2, "log_after": "0:1,1:0", "part_series_after": "0:2,1:2"}).json()
    assert news["logs"] == [{"part": 1, "seq": 1, "text": "us 1\n"}]
    assert [(p["index"], p["status"], [pt["seq"] for pt in p["series"]]) for p in news["parts"]] \
        == [(0, "completed", [3, 4]), (1, "running", [])]
    assert [(point["seq"], point["count"]) for point in news["series"]] == [(3, 30), (4, 30)]
    # A cursor that does not parse is ignored: everything of that part comes again.
    again = as_alice.get(url, {"log_after": "0:x,1:0"}).json()
    assert [(c["part"], c["seq"]) for c in again["logs"]] == [(0, 0), (0, 1), (1, 1)]


def test_run_of_one_agent_has_no_parts(as_alice, monitor, acme):
    make_agent("solo", tenant=acme)
    run = make_run(monitor)
    Run.all_tenants.filter(pk=run.pk).update(agent_id="solo")
    add_series(run, 3)
    add_logs(run, ["only line\n"])
    html = as_alice.get(reverse("web:run", args=[run.pk])).content.decode()
    assert '<dd id="run-agent"><a href="/agents/solo/">solo</a></dd>' in html
    assert 'id="parts"' not in html and 'id="parts-data"' not in html and "log-part" not in html
    assert '<pre class="log" id="log-tail">only line\n</pre>' in html
    live = as_alice.get(reverse("web:run-live", args=[run.pk])).json()
    assert live["logs"] == [{"seq": 0, "text": "only line\n"}] and "parts" not in live


def test_split_run_of_another_tenant_is_not_found(client, mallory, monitor):
    run = make_split_run(monitor)
    add_part_logs(run, 0, ["secret\n"])
    client.force_login(mallory)
    for name in ("web:run", "web:run-live", "web:run-log"):
        response = client.get(reverse(name, args=[run.pk]))
        assert response.status_code == 404, name
        assert b"secret" not in response.content and b"eu-1" not in response.content


# --- the per-request analysis of one part --------------------------------------------------------

def _analysis(response) -> list[tuple[str, int]]:
    assert response.status_code == 200
    return [(row["name"], row["count"]) for row in response.context["analysis"]["requests"]]


def test_split_run_page_shows_each_parts_own_requests_when_picked(as_alice, monitor):
    from tests.web.helpers import make_split_breakdown_run

    run = make_split_breakdown_run(monitor)
    url = reverse("web:run", args=[run.pk])

    merged = as_alice.get(url)
    assert _analysis(merged) == [("GET /home", 120), ("POST /login", 30), ("GET /search", 20)]
    html = merged.content.decode()
    assert '<select name="part" id="analysis-part-select"' in html
    assert '<option value="">all parts, merged</option>' in html
    assert '<option value="0">part 0 · eu-1 (eu-west-1)</option>' in html
    assert '<option value="1">part 1 · us-1 (us-east-1)</option>' in html
    assert 'id="analysis-part-note"' not in html

    first = as_alice.get(url, {"part": "0"})
    assert _analysis(first) == [("GET /home", 60), ("POST /login", 30)]
    analysis = first.context["analysis"]
    assert analysis["part"] == 0 and [row["name"] for row in analysis["checks"]] == ["status is 200", "has a token"]
    assert sum(bucket["count"] for bucket in analysis["histogram"]) == 90
    assert [row["cause"] for row in analysis["errors"]] == ["HTTP 500", "connection refused"]
    html = first.content.decode()
    assert '<option value="0" selected>' in html and "Requests of part 0" in html
    assert f'href="/runs/{run.pk}/requests.csv?part=0"' in html and 'id="analysis-part-note"' in html
    # The figures above the analysis stay the merged run's.
    assert first.context["run"].metrics["count"] == 170

    second = as_alice.get(url, {"part": "1"})
    assert _analysis(second) == [("GET /home", 60), ("GET /search", 20)]
    home = second.context["analysis"]["requests"][0]
    assert home["p50"] == pytest.approx(3 * 39, rel=0.01)  # part 1's /home is three times as slow (39 ms on part 0)
    assert second.context["analysis"]["checks"] == []


@pytest.mark.parametrize("value", ["7", "x", "-1", "1.0", "9" * 50])
def test_a_part_the_run_does_not_have_is_named_and_the_merged_requests_shown(as_alice, monitor, value):
    from tests.web.helpers import make_split_breakdown_run

    run = make_split_breakdown_run(monitor)
    response = as_alice.get(reverse("web:run", args=[run.pk]), {"part": value})
    assert _analysis(response) == [("GET /home", 120), ("POST /login", 30), ("GET /search", 20)]
    assert f"There is no part “{value[:20]}” of this run" in response.content.decode()


def test_a_run_on_one_agent_ignores_a_part(as_alice, monitor):
    from tests.web.helpers import make_breakdown_run

    run = make_breakdown_run(monitor)
    response = as_alice.get(reverse("web:run", args=[run.pk]), {"part": "0"})
    assert _analysis(response) == [("GET /home", 60), ("POST /login", 30), ("GET /search", 20)]
    html = response.content.decode()
    assert "There is no part “0” of this run (it ran on one agent)" in html and 'id="analysis-part"' not in html


def test_a_parts_requests_download_and_its_tenant(client, alice, mallory, monitor):
    from tests.web.helpers import make_split_breakdown_run

    run = make_split_breakdown_run(monitor)
    url = reverse("web:run-requests-csv", args=[run.pk])
    client.force_login(alice)
    response = client.get(url, {"part": "1"})
    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="run-{run.pk}-part-1-requests.csv"'
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert [line.split(",")[:3] for line in lines[1:]] == [["GET /home", "GET", "60"], ["GET /search", "GET", "20"]]
    for value in ("2", "x", "99999999"):
        assert client.get(url, {"part": value}).status_code == 404
    client.force_login(mallory)
    assert client.get(url, {"part": "0"}).status_code == 404
    assert client.get(reverse("web:run", args=[run.pk]), {"part": "0"}).status_code == 404


def test_picking_a_part_costs_no_more_queries_than_the_merged_page(as_alice, monitor):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tests.web.helpers import make_split_breakdown_run

    run = make_split_breakdown_run(monitor)
    counts = []
    for params in ({}, {"part": "0"}, {"part": "1"}, {"part": "junk"}):
        with CaptureQueriesContext(connection) as queries:
            assert as_alice.get(reverse("web:run", args=[run.pk]), params).status_code == 200
        counts.append(len(queries))
    assert len(set(counts)) == 1, counts
