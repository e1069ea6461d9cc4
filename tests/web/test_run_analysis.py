"""The run page's per-request analysis and the run's CSV downloads, through the Django test client.

The runs are built from real records by the agents' ResultBuilder (tests/web/helpers.py
shop_records: GET /home, POST /login, GET /search) and stored as concluding a run
stores them, so every figure checked here is the one a real run would show.
"""

from __future__ import annotations

import math
import re
from html.parser import HTMLParser

import pytest
from django.urls import reverse

from perfmon.runs.models import Run, SeriesPoint
from perfmon.web import breakdown
from tests.factories import make_monitor
from tests.web.helpers import add_series, make_breakdown_run, make_run, make_split_run

pytestmark = pytest.mark.django_db

START = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC: a fixed start, so the CSV's figures are fixed too


class _Tables(HTMLParser):
    """The text of every cell of the table with id ``table_id``, row by row (header rows included)."""

    def __init__(self, table_id: str) -> None:
        super().__init__()
        self.table_id, self.depth, self.rows, self.cell = table_id, 0, [], None

    def handle_starttag(self, tag, attrs):
        if tag == "table" and (self.depth or dict(attrs).get("id") == self.table_id):
            self.depth += 1
        elif self.depth and tag == "tr":
            self.rows.append([])
        elif self.depth and tag in ("td", "th"):
            self.cell = []
        elif self.cell is not None:
            self.cell.append(" ")  # an element inside a cell (a list item) reads apart from its neighbour

    def handle_endtag(self, tag):
        if tag == "table" and self.depth:
            self.depth -= 1
        elif self.depth and tag in ("td", "th") and self.cell is not None:
            self.rows[-1].append(" ".join("".join(self.cell).split()))
            self.cell = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell.append(data)


def table(html: str, table_id: str) -> list[list[str]]:
    parser = _Tables(table_id)
    parser.feed(html)
    return parser.rows


@pytest.fixture
def as_alice(client, alice):
    client.force_login(alice)
    return client


@pytest.fixture
def shop(acme):
    return make_monitor(acme, name="Shop", thresholds={"latencyMs": 500})


def _page(client, run):
    response = client.get(reverse("web:run", args=[run.pk]))
    assert response.status_code == 200
    return response, response.content.decode()


def _download(client, name, run) -> str:
    response = client.get(reverse(name, args=[run.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith("attachment; filename=")
    return b"".join(response.streaming_content).decode()


def test_request_table_lists_each_name_busiest_first_with_its_figures(as_alice, shop):
    run = make_breakdown_run(shop, start=START)
    _, html = _page(as_alice, run)
    rows = table(html, "requests")
    assert rows[0] == ["Name", "Method", "Requests", "Errors", "Error %", "Status codes", "p50", "p90", "p95",
                       "p99", "Avg", "Max", "Throughput"]
    assert rows[1:] == [
        ["GET /home", "GET", "60", "0", "0.00 %", "200 ×60", "39.0 ms", "63.0 ms", "66.0 ms", "69.0 ms",
         "39.5 ms", "69.0 ms", "10.1 req/s"],
        ["POST /login", "POST", "30", "5", "16.67 %", "0 ×2 200 ×25 500 ×3", "170 ms", "230 ms", "240 ms",
         "245 ms", "172 ms", "245 ms", "5.0 req/s"],
        ["GET /search", "GET", "20", "2", "10.00 %", "200 ×18 404 ×2", "390 ms", "470 ms", "480 ms", "490 ms",
         "395 ms", "490 ms", "3.2 req/s"],
    ]
    # The sort keys are the raw figures, not the rounded text: p95 of POST /login is 240.127 ms.
    assert 'data-value="240.127"' in html and 'data-value="16.666666666666668"' in html
    assert 'aria-sort="descending"' in html.split('id="requests"')[1].split("</thead>")[0]  # by count, as listed
    assert f'href="{reverse("web:run-requests-csv", args=[run.pk])}"' in html


def test_errors_by_cause_list_count_status_codes_and_the_first_samples(as_alice, shop):
    run = make_breakdown_run(shop, start=START)
    response, html = _page(as_alice, run)
    rows = table(html, "errors")
    assert [row[:4] for row in rows[1:]] == [
        ["POST /login POST", "HTTP 500", "3", "500 ×3"],
        ["GET /search GET", "HTTP 404", "2", "404 ×2"],
        ["POST /login POST", "connection refused", "2", "0 ×2"],
    ]
    refused = response.context["analysis"]["errors"][2]
    assert [(s["status"], s["message"]) for s in refused["samples"]] == [(0, "connection refused")] * 2
    # The samples are the tool's first errors, at the times they happened (UTC here: the test settings').
    assert rows[3][4] == "22:13:21 0 connection refused 22:13:23 0 connection refused"
    assert rows[1][4] == "22:13:20 500 HTTP 500 22:13:22 500 HTTP 500 22:13:24 500 HTTP 500"  # no message: the cause


def test_checks_show_passes_fails_and_pass_rate_failing_first(as_alice, shop):
    run = make_breakdown_run(shop, start=START)
    _, html = _page(as_alice, run)
    assert table(html, "checks") == [
        ["Check", "Passes", "Fails", "Pass rate"],
        ["status is 200", "103", "7", "93.64 %"],
        ["has a token", "25", "0", "100.00 %"],
    ]


def test_histogram_buckets_are_log_spaced_and_add_up_to_the_runs_count(as_alice, shop):
    run = make_breakdown_run(shop, start=START)
    response, html = _page(as_alice, run)
    buckets = response.context["analysis"]["histogram"]
    assert run.metrics["count"] == 110
    assert sum(b["count"] for b in buckets) == 110
    assert len(buckets) == breakdown.HISTOGRAM_BUCKETS
    assert buckets[0]["from_ms"] == 10.0 and buckets[-1]["to_ms"] == 490.0  # the run's exact min and max
    assert all(a["to_ms"] == b["from_ms"] for a, b in zip(buckets, buckets[1:], strict=False))
    ratios = [b["to_ms"] / b["from_ms"] for b in buckets]
    expected = (490.0 / 10.0) ** (1 / len(buckets))
    assert all(math.isclose(r, expected, rel_tol=0.02) for r in ratios), ratios
    # Exact: the requests at 10..69 ms (GET /home) are the samples of the buckets up to the one holding 69 ms,
    # and the next request is at 100 ms.
    upto = next(i for i, b in enumerate(buckets) if b["to_ms"] >= 69.0)
    assert buckets[upto]["to_ms"] < 100.0
    assert sum(b["count"] for b in buckets[:upto + 1]) == 60
    assert 'id="histogram-data"' in html and 'id="chart-histogram"' in html
    cells = table(html, "histogram-buckets")
    assert sum(int(row[2]) for row in cells[1:]) == 110


def test_percentiles_on_the_page_include_p90_and_the_series_carry_p90_and_vus(as_alice, shop):
    run = make_breakdown_run(shop, start=START)
    response, html = _page(as_alice, run)
    assert re.search(r'id="summary-p90">380 ms<', html)
    rows = {row["key"]: row for row in response.context["comparison"]}
    assert rows["p90_ms"]["value"] == run.metrics["p90_ms"] == 380.159
    points = response.context["series"]
    assert [p["vus"] for p in points] == [1, 2, 3, 4, 5, 6]
    assert [p["p90"] for p in points] == [310.015, 340.223, 370.175, 400.127, 440.063, 470.015]
    assert 'id="chart-vus"' in html


def test_series_csv_is_every_interval_as_stored(as_alice, shop):
    run = make_breakdown_run(shop, start=START)
    text = _download(as_alice, "web:run-series-csv", run)
    assert text.split("\r\n") == [
        "start,interval_s,count,errors,p50_ms,p90_ms,p95_ms,p99_ms,throughput_rps,vus",
        "2023-11-14T22:13:20+00:00,1.0,18,1,18.015,310.015,320.255,320.255,18.0,1",
        "2023-11-14T22:13:21+00:00,1.0,18,2,28.015,340.223,350.207,350.207,18.0,2",
        "2023-11-14T22:13:22+00:00,1.0,18,1,38.015,370.175,380.159,380.159,18.0,3",
        "2023-11-14T22:13:23+00:00,1.0,18,1,48.031,400.127,410.111,410.111,18.0,4",
        "2023-11-14T22:13:24+00:00,1.0,18,2,58.015,440.063,450.047,450.047,18.0,5",
        "2023-11-14T22:13:25+00:00,2.0,20,0,69.055,470.015,480.255,490.239,16.80672188093417,6",
        "",
    ]


def test_series_csv_streams_a_long_series_in_batches_with_unknown_figures_empty(as_alice, shop, monkeypatch):
    from perfmon.web import exports

    monkeypatch.setattr(exports, "SERIES_BATCH", 7)
    run = make_run(shop)
    add_series(run, 20)  # p90 known, VUs not reported
    SeriesPoint.all_tenants.filter(run=run, seq=4).update(p50_ms=None, p90_ms=None, p95_ms=None, p99_ms=None)
    lines = _download(as_alice, "web:run-series-csv", run).splitlines()
    assert len(lines) == 21
    assert [int(line.split(",")[2]) for line in lines[1:]] == [100] * 20
    assert lines[1].endswith(",100,0,40.0,80.0,90.0,130.0,20.0,")
    assert lines[5].endswith(",100,1,,,,,20.0,")
    assert lines[20].endswith(",100,1,59.0,99.0,109.0,149.0,20.0,")


def test_split_run_series_csv_is_its_parts_merged(as_alice, shop):
    run = make_split_run(shop, intervals=4)
    lines = _download(as_alice, "web:run-series-csv", run).splitlines()
    assert [line.split(",")[1:4] for line in lines[1:]] == [["1.0", "50", "0"]] * 4
    assert all(line.split(",")[8] == "50.0" for line in lines[1:])


def test_requests_csv_is_the_table_exactly(as_alice, shop):
    run = make_breakdown_run(shop, start=START)
    assert _download(as_alice, "web:run-requests-csv", run).split("\r\n") == [
        "name,method,count,errors,error_pct,status_codes,p50_ms,p90_ms,p95_ms,p99_ms,avg_ms,min_ms,max_ms,"
        "throughput_rps",
        "GET /home,GET,60,0,0.0,200:60,39.007,63.007,66.047,69.0,39.5,10.0,69.0,10.051934827249985",
        "POST /login,POST,30,5,16.666666666666668,0:2;200:25;500:3,170.111,230.015,240.127,245.0,172.5,100.0,245.0,"
        "4.962779289427424",
        "GET /search,GET,20,2,10.0,200:18;404:2,390.143,470.015,480.255,490.0,395.0,300.0,490.0,3.2310177407301586",
        "",
    ]


def test_requests_csv_quotes_names_with_commas_and_quotes(as_alice, shop):
    from runners.records import RequestRecord

    records = [RequestRecord(ts=START + i, latency_ms=5.0, status=200, name='search "a,b"', method="GET")
               for i in range(3)]
    run = make_breakdown_run(shop, records, checks=(), vus=[])
    lines = _download(as_alice, "web:run-requests-csv", run).splitlines()
    assert lines[1].startswith('"search ""a,b""",GET,3,0,0.0,200:3,5.0,')


def test_run_without_breakdown_shows_a_short_note_and_nothing_else_new(as_alice, shop):
    run = make_run(shop)  # an older run: a summary, no requests or checks
    add_series(run, 3)
    response, html = _page(as_alice, run)
    assert 'id="no-requests"' in html and "No per-request data" in html
    for absent in ('id="requests"', 'id="errors"', 'id="checks"', 'id="download-requests"', 'id="no-errors"'):
        assert absent not in html
    assert response.context["analysis"]["requests"] == []
    assert _download(as_alice, "web:run-requests-csv", run).splitlines() == [
        "name,method,count,errors,error_pct,status_codes,p50_ms,p90_ms,p95_ms,p99_ms,avg_ms,min_ms,max_ms,"
        "throughput_rps"]


def test_run_without_errors_says_so(as_alice, shop):
    from runners.records import RequestRecord

    records = [RequestRecord(ts=START + i / 10, latency_ms=20.0 + i, status=200, name="GET /", method="GET")
               for i in range(40)]
    run = make_breakdown_run(shop, records, checks=())
    _, html = _page(as_alice, run)
    assert 'id="no-errors"' in html and "No request failed." in html
    assert 'id="checks"' not in html
    assert len(table(html, "requests")) == 2


def test_running_run_has_no_analysis_yet(as_alice, shop):
    run = make_run(shop, status="running")
    response, html = _page(as_alice, run)
    assert response.context["analysis"] is None
    assert 'id="no-requests"' not in html and "run-analysis.js" not in html


def test_the_other_bucket_is_listed_last_and_pinned(as_alice, shop):
    entry = {"name": "other", "method": "", "count": 500, "errors": 0, "status_codes": {"200": 500}}
    busy = {**entry, "name": "GET /a", "method": "GET", "count": 10}
    run = make_run(shop)
    Run.all_tenants.filter(pk=run.pk).update(requests=[entry, busy])
    _, html = _page(as_alice, run)
    assert [row[0] for row in table(html, "requests")[1:]] == ["GET /a", "other"]
    assert '<tr class="pinned"' in html


def test_malformed_stored_breakdown_reads_as_dashes_not_a_500(as_alice, shop):
    run = make_run(shop)
    Run.all_tenants.filter(pk=run.pk).update(
        requests=[{"name": "GET /x", "count": "many", "p95_ms": "slow", "causes": {"boom": "x"}}, "junk", 7],
        checks={"ok": "yes", "fine": {"passes": 2, "fails": None}}, histogram="not a histogram")
    response, html = _page(as_alice, run)
    assert table(html, "requests")[1][:5] == ["GET /x", "—", "0", "0", "—"]
    assert table(html, "checks")[1:] == [["fine", "2", "0", "100.00 %"], ["ok", "0", "0", "—"]]
    assert response.context["analysis"]["histogram"] == []
    assert 'id="histogram-data"' not in html


def test_many_causes_are_capped_on_the_page_with_a_note(as_alice, shop):
    entries = [{"name": f"GET /item/{i}", "method": "GET", "count": 10, "errors": 2, "status_codes": {"500": 2},
                "causes": {"HTTP 500": 1, f"timeout {i}": 1}, "samples": []} for i in range(60)]
    run = make_run(shop)
    Run.all_tenants.filter(pk=run.pk).update(requests=entries)
    _, html = _page(as_alice, run)
    assert len(table(html, "errors")) == 1 + breakdown.MAX_ERROR_ROWS
    assert "and 20 less frequent causes" in html


def test_another_tenants_csv_downloads_are_not_found(client, mallory, shop):
    run = make_breakdown_run(shop, start=START)
    client.force_login(mallory)
    for name in ("web:run", "web:run-series-csv", "web:run-requests-csv"):
        assert client.get(reverse(name, args=[run.pk])).status_code == 404
    assert client.get("/runs/not-a-uuid/series.csv").status_code == 404


def test_csv_downloads_require_sign_in(client, shop):
    run = make_breakdown_run(shop, start=START)
    response = client.get(reverse("web:run-requests-csv", args=[run.pk]))
    assert response.status_code == 302 and response.url.startswith(reverse("web:login"))


def test_requests_csv_keeps_a_name_that_looks_like_a_formula_as_text(as_alice, shop):
    from runners.records import RequestRecord

    records = [RequestRecord(ts=START + i, latency_ms=5.0, status=200, name="=HYPERLINK(\"x\")", method="GET")
               for i in range(3)]
    run = make_breakdown_run(shop, records, checks=(), vus=[])
    lines = _download(as_alice, "web:run-requests-csv", run).splitlines()
    assert lines[1].startswith('"\'=HYPERLINK(""x"")",GET,3,0,0.0,'), lines[1]
