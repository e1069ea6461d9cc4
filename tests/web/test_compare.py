"""Comparing two or three runs: /runs/compare/?ids=…, its entry points and its pure helpers."""

from __future__ import annotations

import dataclasses
import json
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from perfmon.web import compare
from tests.factories import make_monitor
from tests.web.helpers import add_series, make_breakdown_run, make_run, shop_records
from tests.web.test_run_analysis import table

pytestmark = pytest.mark.django_db

START = 1_700_000_000.0


@pytest.fixture
def as_alice(client, alice):
    client.force_login(alice)
    return client


@pytest.fixture
def shop(acme):
    return make_monitor(acme, name="Shop", thresholds={"latencyMs": 500})


def slower(records, factor: float):
    return [dataclasses.replace(record, latency_ms=record.latency_ms * factor) for record in records]


def _url(*runs) -> str:
    return reverse("web:run-compare") + "?ids=" + ",".join(str(run.pk) for run in runs)


def _charts(response) -> dict:
    found = re.search(r'<script id="compare-data" type="application/json">(.*?)</script>', response.content.decode(),
                      re.S)
    return json.loads(found.group(1))


def test_two_runs_side_by_side_with_the_change_from_the_first(as_alice, shop):
    first = make_breakdown_run(shop, start=START)
    # The same traffic an hour later, every request twice as slow.
    second = make_breakdown_run(shop, slower(shop_records(START + 3600), 2.0))
    response = as_alice.get(_url(first, second))
    assert response.status_code == 200
    html = response.content.decode()

    summary = {row[0]: row[1:] for row in table(html, "compare-summary")[1:]}
    assert summary["Requests"] == ["110", "110 +0.0 %"]
    p95_first = first.metrics["p95_ms"]
    assert second.metrics["p95_ms"] == pytest.approx(2 * p95_first, rel=0.01)
    assert summary["p95"][1].endswith("+100.0 %") or summary["p95"][1].endswith("+99.9 %")
    assert 'class="verdict-worse">+' in html  # slower reads as worse

    rows = table(html, "compare-requests")
    assert rows[0][:2] == ["Name", "Figure"]
    # Busiest first in the first run; per name its count, errors and p95.
    assert [row[0] for row in rows[1:] if len(row) == 4] == ["GET /home", "POST /login", "GET /search"]
    login = rows[4:7]
    assert login[0] == ["POST /login", "Requests", "30", "30 +0.0 %"]
    assert login[1] == ["Errors", "5", "5 +0.0 %"]
    assert login[2][0] == "p95" and login[2][1] == "240 ms" and login[2][2].startswith("480 ms +100.0 %")

    # Both runs' series on one elapsed-time axis, from each run's own start.
    charts = _charts(response)
    assert charts["p95"]["x"][0] == 1.0 and charts["p95"]["x"] == sorted(charts["p95"]["x"])
    first_line, second_line = (s["values"] for s in charts["p95"]["series"])
    assert len(first_line) == len(second_line) == len(charts["p95"]["x"])
    both = [(a, b) for a, b in zip(first_line, second_line, strict=True) if a is not None and b is not None]
    assert len(both) >= 4 and all(b > a for a, b in both)  # the slower run's line lies above
    assert [s["label"] for s in charts["rps"]["series"]] == [f"run 1 ({str(first.pk)[:8]})",
                                                            f"run 2 ({str(second.pk)[:8]})"]


def test_three_runs_and_runs_of_different_lengths_overlay_with_gaps(as_alice, shop):
    short, long_ = make_run(shop, minutes_ago=30), make_run(shop, minutes_ago=20)
    add_series(short, 3)
    add_series(long_, 6)
    empty = make_run(shop, minutes_ago=10)
    response = as_alice.get(_url(short, long_, empty))
    assert response.status_code == 200
    charts = _charts(response)
    assert charts["p95"]["x"] == [5.0, 10.0, 15.0, 20.0, 25.0, 30.0]
    values = [s["values"] for s in charts["p95"]["series"]]
    assert values[0] == [90.0, 91.0, 92.0, None, None, None]
    assert values[1] == [90.0, 91.0, 92.0, 93.0, 94.0, 95.0]
    assert values[2] == [None] * 6
    assert len(table(response.content.decode(), "compare-summary")[0]) == 4


def test_checkbox_form_sends_repeated_ids(as_alice, shop):
    a, b = make_run(shop, minutes_ago=5), make_run(shop, minutes_ago=1)
    response = as_alice.get(reverse("web:run-compare"), {"ids": [str(a.pk), str(b.pk)]})
    assert response.status_code == 200
    assert [row[0] for row in table(response.content.decode(), "compare-runs")[1:]] == [
        f"run 1 ({str(a.pk)[:8]})", f"run 2 ({str(b.pk)[:8]})"]
    # The run list ticks newest first and asks for the oldest as the reference.
    response = as_alice.get(reverse("web:run-compare"), {"ids": [str(b.pk), str(a.pk)], "order": "oldest"})
    assert [row[0] for row in table(response.content.decode(), "compare-runs")[1:]] == [
        f"run 1 ({str(a.pk)[:8]})", f"run 2 ({str(b.pk)[:8]})"]


@pytest.mark.parametrize(("ids", "message"), [
    ("", "Pick 2 or 3 runs to compare; 0 given."),
    ("{a}", "Pick 2 or 3 runs to compare; 1 given."),
    ("{a},{b},{a},{b}", "Pick 2 or 3 runs to compare; 4 given."),
    ("{a},{a}", "Each run may be given once."),
    ("{a},not-a-run", "“not-a-run” is not a run id."),
])
def test_bad_ids_answer_a_400_page_saying_why(as_alice, shop, ids, message):
    a, b = make_run(shop, minutes_ago=5), make_run(shop, minutes_ago=1)
    response = as_alice.get(reverse("web:run-compare") + "?ids=" + ids.format(a=a.pk, b=b.pk))
    assert response.status_code == 400
    assert message in response.content.decode()


def test_another_tenants_run_is_not_found(as_alice, shop, globex):
    mine = make_run(shop)
    theirs = make_run(make_monitor(globex, name="Theirs"))
    assert as_alice.get(_url(mine, theirs)).status_code == 404
    assert as_alice.get(_url(mine)[:-36] + "00000000-0000-0000-0000-000000000000," + str(mine.pk)).status_code == 404


def test_signed_out_is_sent_to_sign_in(client, shop):
    a, b = make_run(shop), make_run(shop)
    response = client.get(_url(a, b))
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_entry_points_monitor_run_list_checkboxes_and_run_page_link(as_alice, shop):
    older, newer = make_run(shop, minutes_ago=10), make_run(shop, minutes_ago=1)
    html = as_alice.get(reverse("web:monitor", args=[shop.pk])).content.decode()
    assert f'action="{reverse("web:run-compare")}" id="compare-form"' in html
    assert '<input type="hidden" name="order" value="oldest">' in html
    for run in (older, newer):
        assert f'name="ids" value="{run.pk}" form="compare-form"' in html
    html = as_alice.get(reverse("web:run", args=[newer.pk])).content.decode()
    assert f'href="{reverse("web:run-compare")}?ids={older.pk},{newer.pk}" id="compare-previous"' in html
    # The first run has no previous one to compare with.
    assert 'id="compare-previous"' not in as_alice.get(reverse("web:run", args=[older.pk])).content.decode()


def test_query_count_does_not_grow_with_series_or_breakdown(as_alice, shop):
    def count(runs):
        with CaptureQueriesContext(connection) as queries:
            assert as_alice.get(_url(*runs)).status_code == 200
        return len(queries)

    small = [make_run(shop, minutes_ago=m) for m in (30, 20, 10)]
    big = [make_breakdown_run(shop, start=START + i) for i in range(3)]
    for run in big:
        add_series(run, 2000, start_seq=100)
    assert count(big) == count(small) <= 12


def test_change_and_overlay_helpers():
    assert compare.change(110, 100, "lower") == {"pct": pytest.approx(10.0), "verdict": "worse"}
    assert compare.change(110, 100, "higher")["verdict"] == "better"
    assert compare.change(103, 100, "lower")["verdict"] == "same"
    assert compare.change(200, 100, "")["verdict"] == ""
    assert compare.change(5, 0, "lower") == {"pct": None, "verdict": ""}
    assert compare.change(None, 1) is None and compare.change(1, "x") is None and compare.change(True, 1) is None
    points = [{"t": 1010.0, "p95": 1}, {"t": 1015.0, "p95": 2}]
    assert [p["t"] for p in compare.elapsed_points(points, 1000.0)] == [10.0, 15.0]
    assert [p["t"] for p in compare.elapsed_points(points, None)] == [5.0, 10.0]
    assert compare.overlay([[{"t": 1, "p95": 3}], [{"t": 2, "p95": 4}]], "p95") == {
        "x": [1, 2], "values": [[3, None], [None, 4]]}


def test_the_run_page_and_the_compare_page_read_figures_and_changes_alike():
    from perfmon.web import figures, queries

    # One table: the run page's compared figures are the compare page's rows, labels and directions.
    assert set(queries.COMPARED) <= set(compare.FIGURES) and compare.FIGURES is figures.FIGURES
    assert [row[0] for row in queries.COMPARED] == ["p50_ms", "p90_ms", "p95_ms", "p99_ms", "error_rate",
                                                    "throughput_rps", "apdex"]
    # One rule: the run page's change from the previous run is the compare page's change.
    for value, other, better in ((110.0, 100.0, "lower"), (96.0, 100.0, "higher"), (0.0, 0.0, "lower"),
                                 (0.5, 0.0, "lower"), (None, 100.0, "lower")):
        moved = compare.change(value, other, better)
        row = {r["key"]: r for r in queries.comparison({"p95_ms": value}, {"p95_ms": other}, {})}["p95_ms"]
        assert row["previous"] == {"value": other, "change_pct": moved["pct"] if moved else None,
                                   "verdict": moved["verdict"] if moved else ""}
    assert queries.comparison({"p95_ms": 1.0}, {"p95_ms": None}, {})[2]["previous"] is None
