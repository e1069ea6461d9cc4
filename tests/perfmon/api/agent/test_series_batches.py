"""Series batches on the agent API: stored exactly once however often a post is retried (in a
transaction and in autocommit, where the COPY goes straight into the table), bounded in size
(413 in the envelope, nothing stored), in one query for the agent and its run."""

import json
import time
import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from perfmon.api.agent.serializers import MAX_SERIES_POINTS
from perfmon.runs.models import SeriesPoint
from runners.histogram import LatencyHistogram
from runners.result import SeriesPoint as WirePoint
from tests.perfmon.api.agent.conftest import BASE


def points(first, n):
    histogram = LatencyHistogram()
    for latency in (5.0, 12.5, 40.0):
        histogram.record(latency)
    template = WirePoint.build(0, 0.0, 1.0, 3, 1, histogram, vus=2).to_dict()
    t0 = time.time() - 3600
    return [{**template, "seq": seq, "start": t0 + seq} for seq in range(first, first + n)]


def post(enrolled, run, batch):
    return enrolled.post(f"/runs/{run.pk}/series", {"points": batch})


@pytest.fixture
def running(enrolled, queued_run):
    assert enrolled.post(f"/runs/{queued_run.pk}/claim", {"claim_id": str(uuid.uuid4())}).status_code == 200
    return queued_run


def stored_seqs(run):
    return list(SeriesPoint.all_tenants.filter(run_id=run.pk).order_by("seq").values_list("seq", flat=True))


def test_a_retried_batch_is_stored_exactly_once(enrolled, running):
    batch = points(0, 1000)
    assert post(enrolled, running, batch).json() == {"accepted": 1000, "cancel": False}
    assert post(enrolled, running, batch).json() == {"accepted": 0, "cancel": False}  # the answer was lost
    overlapping = points(500, 1000)  # a merged retry: half stored already
    assert post(enrolled, running, overlapping).json()["accepted"] == 500
    doubled = points(1500, 10) + points(1500, 10)  # the same point twice in one post
    assert post(enrolled, running, doubled).json()["accepted"] == 10
    assert stored_seqs(running) == list(range(1510))
    stored = SeriesPoint.all_tenants.get(run_id=running.pk, seq=7)
    assert (stored.count, stored.errors, stored.vus, stored.histogram) == (3, 1, 2, batch[7]["histogram"])
    assert stored.start.timestamp() == pytest.approx(batch[7]["start"])


@pytest.mark.django_db(transaction=True)
def test_a_retried_batch_is_stored_once_outside_a_transaction(enrolled, running):
    assert connection.get_autocommit()
    batch = points(0, 300)
    assert post(enrolled, running, batch).json()["accepted"] == 300
    assert post(enrolled, running, points(200, 200)).json()["accepted"] == 100
    assert post(enrolled, running, batch).json()["accepted"] == 0
    assert stored_seqs(running) == list(range(400))


def test_a_batch_over_the_limit_is_413_in_the_envelope_and_stores_nothing(enrolled, running):
    response = post(enrolled, running, points(0, MAX_SERIES_POINTS + 1))
    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large" and str(MAX_SERIES_POINTS) in response.json()["message"]
    assert stored_seqs(running) == []
    assert post(enrolled, running, points(0, MAX_SERIES_POINTS)).json()["accepted"] == MAX_SERIES_POINTS


def test_a_body_over_the_upload_limit_is_413_and_stores_nothing(enrolled, running, settings):
    batch = points(0, 50)
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = len(json.dumps({"points": batch})) - 1
    response = post(enrolled, running, batch)
    assert response.status_code == 413 and response.json()["error"] == "payload_too_large"
    assert stored_seqs(running) == []


def test_one_bad_point_refuses_the_whole_batch(enrolled, running):
    batch = points(0, 100)
    batch[60] = {**batch[60], "errors": 4}  # more errors than requests
    response = post(enrolled, running, batch)
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"
    batch[60] = {**batch[60], "errors": 1, "count": "3", "seq": "60"}  # numbers as text still read
    assert post(enrolled, running, batch).json()["accepted"] == 100
    for bad in ({"seq": 2**31}, {"start": 1e300}, {"vus": -1}, {"p95_ms": None}):
        response = post(enrolled, running, [{**points(500, 1)[0], **bad}])
        assert response.status_code == 400 and response.json()["error"] == "invalid_request", bad
    response = enrolled.client.post(f"{BASE}/runs/{running.pk}/series", data=b'{"points": [', content_type="application/json",
                                    headers={"Authorization": f"Bearer {enrolled.credential}"})
    assert response.status_code == 400
    assert stored_seqs(running) == list(range(100))


def test_a_series_post_finds_the_agent_and_its_run_in_one_query(enrolled, running):
    with CaptureQueriesContext(connection) as queries:
        assert post(enrolled, running, points(0, 200)).json()["accepted"] == 200
    # The COPY runs on psycopg's own cursor, outside Django's query log; on SQLite the portable
    # insert adds its own queries after the lookup.
    lookups = [q["sql"] for q in queries.captured_queries if "credential" in q["sql"]]
    assert len(lookups) == 1 and "runs_run" in lookups[0]
    if connection.vendor == "postgresql":  # (the savepoints are the test's transaction's)
        sql = [q["sql"] for q in queries.captured_queries if "SAVEPOINT" not in q["sql"]]
        assert len(sql) == 1, sql


def test_a_bad_credential_is_401_and_another_agents_run_404_on_series(client, enrolled, running):
    bad = client.post(f"{BASE}/runs/{running.pk}/series", data={"points": []}, content_type="application/json",
                      headers={"Authorization": "Bearer pma_aaaaaaaaaa_nope"})
    assert bad.status_code == 401
    wrong_secret = enrolled.credential.rsplit("_", 1)[0] + "_wrong"
    assert client.post(f"{BASE}/runs/{running.pk}/series", data={"points": []}, content_type="application/json",
                       headers={"Authorization": f"Bearer {wrong_secret}"}).status_code == 401
    assert post(enrolled, running, []).status_code == 200
    assert enrolled.post(f"/runs/{uuid.uuid4()}/series", {"points": points(0, 1)}).status_code == 404
    assert stored_seqs(running) == []
