"""Hostile posts on the agent API: malformed or mistyped bodies, replays, out-of-order seqs, oversized
bodies and another agent's credential. Each is refused in the envelope (never a 500) or deduplicated,
and a refused post stores nothing.

Already covered elsewhere (tests/perfmon/api/agent/): an exact series and log replay
(test_agent_api.py), a partial series replay, a series batch at and past MAX_SERIES_POINTS and a
series body past DATA_UPLOAD_MAX_MEMORY_SIZE, mistyped points and a truncated series body
(test_series_batches.py), another agent's claim, empty log post and result (test_agent_api.py).
"""

from __future__ import annotations

import json
import time
import uuid

import pytest

from perfmon.fleet.models import AgentMetricSample
from perfmon.fleet.services import create_agent
from perfmon.runs.models import Run, RunLogChunk, RunStatus, SeriesPoint
from runners.histogram import LatencyHistogram
from runners.result import SeriesPoint as WirePoint
from tests.perfmon.api.agent.conftest import BASE, AgentClient
from tests.perfmon.api.monitor.conftest import assert_envelope


def points(seqs):
    histogram = LatencyHistogram()
    for latency in (5.0, 12.5, 40.0):
        histogram.record(latency)
    template = WirePoint.build(0, 0.0, 1.0, 3, 1, histogram, vus=2).to_dict()
    t0 = time.time() - 3600
    return [{**template, "seq": seq, "start": t0 + seq} for seq in seqs]


def raw_post(agent, path, body: bytes | str, content_type="application/json"):
    return agent.client.post(f"{BASE}{path}", data=body, content_type=content_type,
                             headers={"Authorization": f"Bearer {agent.credential}"})


def counts(run_id) -> tuple[int, int]:
    return (SeriesPoint.all_tenants.filter(run_id=run_id).count(),
            RunLogChunk.all_tenants.filter(run_id=run_id).count())


@pytest.fixture
def running(enrolled, queued_run):
    assert enrolled.post(f"/runs/{queued_run.pk}/claim", {"claim_id": str(uuid.uuid4())}).status_code == 200
    return queued_run


# --- malformed JSON and bodies that are not objects --------------------------------------------

MALFORMED = [b'{"chunks": [', b"not json", b'{"points": NaN}', b"\xff\xfe\x00", b""]
NOT_OBJECTS = [b"[]", b'"text"', b"null", b"42", b"[{\"seq\": 0, \"text\": \"x\"}]"]


@pytest.mark.parametrize("body", MALFORMED + NOT_OBJECTS)
@pytest.mark.parametrize("kind", ["series", "logs", "result"])
def test_malformed_or_non_object_bodies_are_400_in_the_envelope_and_store_nothing(enrolled, running, kind, body):
    response = raw_post(enrolled, f"/runs/{running.pk}/{kind}", body)
    assert_envelope(response, 400)
    assert counts(running.pk) == (0, 0)
    assert Run.all_tenants.get(pk=running.pk).status == RunStatus.RUNNING


@pytest.mark.parametrize("body", [b for b in MALFORMED + NOT_OBJECTS if b])  # an empty heartbeat is a heartbeat
def test_malformed_heartbeats_and_claims_are_400_and_change_nothing(enrolled, queued_run, body):
    before = AgentMetricSample.all_tenants.count()
    assert_envelope(raw_post(enrolled, "/heartbeat", body), 400)
    assert AgentMetricSample.all_tenants.count() == before
    assert_envelope(raw_post(enrolled, f"/runs/{queued_run.pk}/claim", body), 400)
    assert Run.all_tenants.get(pk=queued_run.pk).status == RunStatus.QUEUED


def test_a_body_that_is_not_json_by_its_content_type_is_415_in_the_envelope(enrolled, running):
    response = raw_post(enrolled, f"/runs/{running.pk}/logs", b"seq=0&text=x", content_type="text/plain")
    assert_envelope(response, 415)
    assert counts(running.pk) == (0, 0)


# --- wrong types --------------------------------------------------------------------------------

@pytest.mark.parametrize("chunks", [
    None, "x", {"seq": 0, "text": "x"}, ["x"], [{"seq": "a", "text": "x"}], [{"seq": -1, "text": "x"}],
    [{"seq": 0}], [{"text": "x"}], [{"seq": 0, "text": None}], [{"seq": 0, "text": ["x"]}],
    [{"seq": 0, "text": {"a": 1}}], [{"seq": 1.5, "text": "x"}], [{"seq": True, "text": "x"}],
    [{"seq": 2**31, "text": "x"}], [{"seq": 10**30, "text": "x"}],  # past the seq column's integer
    [{"seq": 0, "text": "a\x00b"}],  # PostgreSQL text cannot hold a NUL
    [{"seq": 0, "text": "ok"}, {"seq": 1, "text": ["x"]}],  # one bad chunk refuses the whole post
])
def test_mistyped_log_chunks_are_400_and_store_nothing(enrolled, running, chunks):
    response = enrolled.post(f"/runs/{running.pk}/logs", {"chunks": chunks})
    assert_envelope(response, 400, "invalid_request")
    assert counts(running.pk) == (0, 0)


def test_a_lone_surrogate_in_a_log_chunk_is_400_and_stores_nothing(enrolled, running):
    body = b'{"chunks": [{"seq": 0, "text": "a\\ud800b"}]}'  # valid JSON, no UTF-8 text
    assert_envelope(raw_post(enrolled, f"/runs/{running.pk}/logs", body), 400)
    assert counts(running.pk) == (0, 0)


@pytest.mark.parametrize("point", [
    {"seq": 0, "histogram": "a\x00b"}, {"seq": 0, "count": [3]},
    {"seq": 0, "start": "yesterday"}, {"seq": 0, "p50_ms": float("inf")}, {"seq": 0, "interval_s": None},
    {"seq": None},
])
def test_mistyped_series_points_are_400_and_store_nothing(enrolled, running, point):
    body = {"points": [{**points([0])[0], **point}]}
    response = raw_post(enrolled, f"/runs/{running.pk}/series", json.dumps(body))
    assert response.status_code == 400, response.content
    assert_envelope(response, 400)
    assert counts(running.pk) == (0, 0)


def test_a_lone_surrogate_in_a_series_histogram_is_400_and_stores_nothing(enrolled, running):
    body = json.dumps({"points": [{**points([0])[0], "histogram": "@@"}]}).replace("@@", "\\udc80")
    assert_envelope(raw_post(enrolled, f"/runs/{running.pk}/series", body), 400)
    assert counts(running.pk) == (0, 0)


@pytest.mark.parametrize("body", [
    {"tools": "k6"}, {"tools": {"k6": ["1.1"]}}, {"capacity": "many"}, {"capacity": 0}, {"metrics": "high"},
    {"metrics": {"cpu_percent": "hot"}}, {"running_runs": "all"}, {"running_runs": ["not-a-uuid"]},
    {"running_runs": [str(uuid.uuid4())] * 1001}, {"hostname": "h" * 256},
])
def test_mistyped_heartbeats_are_400_and_record_nothing(enrolled, body):
    before = AgentMetricSample.all_tenants.count()
    assert_envelope(enrolled.post("/heartbeat", body), 400, "invalid_request")
    assert AgentMetricSample.all_tenants.count() == before


@pytest.mark.parametrize("body", [
    {"outcome": 5}, {"outcome": "completed", "exit_code": "zero"}, {"outcome": "completed", "result": "good"},
    {"outcome": "completed", "result": [1, 2]}, {"outcome": ["completed"]},
])
def test_mistyped_results_are_400_and_leave_the_run_running(enrolled, running, body):
    assert_envelope(enrolled.post(f"/runs/{running.pk}/result", body), 400)
    assert Run.all_tenants.get(pk=running.pk).status == RunStatus.RUNNING


# --- replays and out-of-order seqs --------------------------------------------------------------

def test_a_replayed_log_post_is_stored_once_and_the_first_text_wins(enrolled, running):
    path = f"/runs/{running.pk}/logs"
    first = [{"seq": seq, "text": f"line {seq}\n"} for seq in range(5)]
    assert enrolled.post(path, {"chunks": first}).json() == {"accepted": 5, "cancel": False}
    assert enrolled.post(path, {"chunks": first}).json() == {"accepted": 0, "cancel": False}
    overlapping = [{"seq": seq, "text": f"changed {seq}\n"} for seq in range(3, 8)]  # 3, 4 replayed
    assert enrolled.post(path, {"chunks": overlapping}).json()["accepted"] == 3
    doubled = [{"seq": 8, "text": "a\n"}, {"seq": 8, "text": "b\n"}]  # the same seq twice in one post
    assert enrolled.post(path, {"chunks": doubled}).json()["accepted"] == 1
    texts = list(RunLogChunk.all_tenants.filter(run_id=running.pk).order_by("seq").values_list("text", flat=True))
    assert texts == [f"line {s}\n" for s in range(5)] + [f"changed {s}\n" for s in range(5, 8)] + ["a\n"]


def test_a_replayed_series_post_keeps_the_first_points_values(enrolled, running):
    path = f"/runs/{running.pk}/series"
    assert enrolled.post(path, {"points": points(range(3))}).json() == {"accepted": 3, "cancel": False}
    changed = [{**p, "count": 99, "errors": 0} for p in points(range(3))]
    assert enrolled.post(path, {"points": changed}).json() == {"accepted": 0, "cancel": False}
    assert set(SeriesPoint.all_tenants.filter(run_id=running.pk).values_list("count", flat=True)) == {3}


def test_out_of_order_series_posts_are_all_stored_and_read_back_in_seq_order(api, acme_key, enrolled, running):
    path = f"/runs/{running.pk}/series"
    for seqs in ([5, 6, 7], [0, 1], [9, 3, 8], [2, 4]):  # posts and points within posts out of order
        assert enrolled.post(path, {"points": points(seqs)}).json()["accepted"] == len(seqs)
    body = api.get(f"/api/runs/{running.pk}/series", key=acme_key).json()
    assert [p["seq"] for p in body["points"]] == list(range(10))
    after = api.get(f"/api/runs/{running.pk}/series?after=6", key=acme_key).json()
    assert [p["seq"] for p in after["points"]] == [7, 8, 9]


def test_out_of_order_log_posts_are_all_stored_and_read_back_in_seq_order(api, acme_key, enrolled, running):
    path = f"/runs/{running.pk}/logs"
    for seqs in ([4, 5], [0], [3, 1], [2]):
        chunks = [{"seq": seq, "text": f"{seq}\n"} for seq in seqs]
        assert enrolled.post(path, {"chunks": chunks}).json()["accepted"] == len(seqs)
    response = api.get(f"/api/runs/{running.pk}/logs", key=acme_key)
    assert response.status_code == 200
    assert b"".join(response.streaming_content).decode() == "".join(f"{seq}\n" for seq in range(6))


# --- oversized bodies ---------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["logs", "result", "heartbeat"])
def test_a_body_past_the_upload_limit_is_413_in_the_envelope_and_stores_nothing(enrolled, running, settings, path):
    chunks = [{"seq": seq, "text": "x" * 100} for seq in range(50)]
    body = json.dumps({"chunks": chunks} if path == "logs" else {"outcome": "completed", "log": "x" * 5000})
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = len(body) - 1
    url = "/heartbeat" if path == "heartbeat" else f"/runs/{running.pk}/{path}"
    body_ = assert_envelope(raw_post(enrolled, url, body), 413, "payload_too_large")
    assert str(len(body) - 1) in body_["message"]
    assert counts(running.pk) == (0, 0)
    assert Run.all_tenants.get(pk=running.pk).status == RunStatus.RUNNING


def test_a_body_exactly_at_the_upload_limit_is_accepted(enrolled, running, settings):
    chunks = [{"seq": seq, "text": "x" * 100} for seq in range(50)]
    body = json.dumps({"chunks": chunks})
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = len(body)
    assert raw_post(enrolled, f"/runs/{running.pk}/logs", body).json()["accepted"] == 50
    series = json.dumps({"points": points(range(20))})
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = len(series)
    assert raw_post(enrolled, f"/runs/{running.pk}/series", series).json()["accepted"] == 20
    assert counts(running.pk) == (20, 50)


# --- another agent's credential -----------------------------------------------------------------

@pytest.fixture
def other_agents(client, acme, globex):
    """acme-2 (same tenant) and globex-1 (another tenant), both enrolled."""
    agents = []
    for agent_id, tenant in (("acme-2", acme), ("globex-1", globex)):
        token = create_agent(agent_id=agent_id, location="eu", tenant=tenant).enrollment_token
        response = AgentClient(client).post("/enroll", {"token": token, "tools": {"k6": "1.1.0"}})
        assert response.status_code == 201, response.content
        agents.append(AgentClient(client, response.json()["credential"]))
    return agents


def test_another_agents_credential_cannot_stream_into_or_end_a_running_run(enrolled, running, other_agents):
    enrolled.post(f"/runs/{running.pk}/logs", {"chunks": [{"seq": 0, "text": "own\n"}]})
    for other in other_agents:
        for path, data in [("series", {"points": points(range(3))}),
                           ("logs", {"chunks": [{"seq": 1, "text": "forged\n"}]}),
                           ("result", {"outcome": "completed", "exit_code": 0}),
                           ("ready", {}), ("claim", {"claim_id": str(uuid.uuid4())})]:
            assert_envelope(other.post(f"/runs/{running.pk}/{path}", data), 404, "not_found")
    assert counts(running.pk) == (0, 1)
    run = Run.all_tenants.get(pk=running.pk)
    assert (run.status, run.agent_id) == (RunStatus.RUNNING, "acme-1")
    assert enrolled.post(f"/runs/{running.pk}/series", {"points": points(range(3))}).json()["accepted"] == 3


def test_a_heartbeat_naming_another_agents_run_changes_nothing_of_it(enrolled, running, other_agents):
    for other in other_agents:
        response = other.post("/heartbeat", {"running_runs": [str(running.pk)]})
        assert response.status_code == 200
        assert str(running.pk) not in json.dumps(response.json())
    run = Run.all_tenants.get(pk=running.pk)
    assert (run.status, run.agent_id) == (RunStatus.RUNNING, "acme-1")

