"""Every size limit of the API surfaces, each at the limit (accepted and stored) and one byte, character
or item past it (400 or 413 in the error envelope, nothing stored): scripts on /api/monitors (base64 and
multipart) and /api/v1/tests, parameters, request thresholds, request bodies, and the agent API's log
chunks, log batches and heartbeat run lists. Series batches (MAX_SERIES_POINTS) are covered in
tests/perfmon/api/agent/test_series_batches.py. The limits are listed in docs/api.md (Size limits).
"""

from __future__ import annotations

import json
import uuid

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart

from perfmon.api.agent.serializers import MAX_BATCH, MAX_CHUNK_CHARS
from perfmon.definitions.models import TestDefinition
from perfmon.monitors.models import Monitor
from perfmon.runs.models import RunLogChunk
from runners.validation import MAX_PARAMETER_VALUE, MAX_PARAMETERS, MAX_REQUEST_NAME, MAX_REQUEST_THRESHOLDS
from tests.perfmon.api.agent.conftest import BASE, enrolled, queued_run  # noqa: F401  (fixtures)
from tests.perfmon.api.monitor.conftest import K6_SCRIPT, assert_envelope, b64, monitor_json
from tests.perfmon.api.perfscale.conftest import oidc, tokens, v1  # noqa: F401  (fixtures)

pytestmark = pytest.mark.django_db

DEFAULT_SCRIPT_BYTES = 1024 * 1024
DEFAULT_BODY_BYTES = 5 * 1024 * 1024


def stored(tenant) -> tuple[int, int]:
    """(monitors, test definitions) of the tenant: what a refused create must leave unchanged."""
    return Monitor.objects.for_tenant(tenant).count(), TestDefinition.objects.for_tenant(tenant).count()


def script_of(size: int) -> str:
    """A k6 script of exactly ``size`` UTF-8 bytes, padded with a two-byte character (a limit in
    bytes, not characters) and one ASCII byte when the padding is odd."""
    head = K6_SCRIPT + "// "
    pad = size - len(head.encode())
    return head + "é" * (pad // 2) + "x" * (pad % 2)


def multipart(client, key, data, method="post", path="/api/monitors"):
    return getattr(client, method)(path, data=data, headers={"X-API-Key": key})


def form(script: bytes, **fields) -> dict:
    return {"name": "upload", "schedule": "*/15 * * * *", "tool": "k6",
            "script": SimpleUploadedFile("t.js", script), **fields}


# --- scripts on /api/monitors ---------------------------------------------------------------------

def test_the_default_script_limit_is_one_mebibyte_in_bytes(api, acme, acme_key, settings):
    assert settings.PERFMON_MAX_SCRIPT_BYTES == DEFAULT_SCRIPT_BYTES
    before = stored(acme)
    over = assert_envelope(api.post("/api/monitors", monitor_json(scriptContent=b64(script_of(DEFAULT_SCRIPT_BYTES + 1))),
                                    key=acme_key), 400, "invalid_request")
    assert str(DEFAULT_SCRIPT_BYTES) in over["details"]["scriptContent"][0]
    assert stored(acme) == before
    at = api.post("/api/monitors", monitor_json(scriptContent=b64(script_of(DEFAULT_SCRIPT_BYTES))), key=acme_key)
    assert at.status_code == 201, at.content[:300]
    script = Monitor.objects.for_tenant(acme).get(pk=at.json()["id"]).test.script
    assert len(script.encode()) == DEFAULT_SCRIPT_BYTES


@pytest.mark.parametrize("how", ["json", "multipart"])
def test_a_script_at_the_limit_is_stored_and_one_byte_past_it_is_400(api, client, acme, acme_key, settings, how):
    settings.PERFMON_MAX_SCRIPT_BYTES = 1000
    before = stored(acme)
    if how == "json":
        over = api.post("/api/monitors", monitor_json(scriptContent=b64(script_of(1001))), key=acme_key)
        field = "scriptContent"
    else:
        over = multipart(client, acme_key, form(script_of(1001).encode()))
        field = "script"
    assert "1000" in assert_envelope(over, 400, "invalid_request")["details"][field][0]
    assert stored(acme) == before
    if how == "json":
        at = api.post("/api/monitors", monitor_json(scriptContent=b64(script_of(1000))), key=acme_key)
    else:
        at = multipart(client, acme_key, form(script_of(1000).encode()))
    assert at.status_code == 201, at.content[:300]
    assert Monitor.objects.for_tenant(acme).get(pk=at.json()["id"]).test.script == script_of(1000)


@pytest.mark.parametrize("how", ["json", "multipart"])
def test_a_patched_script_past_the_limit_is_400_and_keeps_the_stored_one(api, client, acme, acme_key, settings, how):
    settings.PERFMON_MAX_SCRIPT_BYTES = 1000
    created = api.post("/api/monitors", monitor_json(scriptContent=b64(K6_SCRIPT)), key=acme_key).json()
    path = f"/api/monitors/{created['id']}"
    if how == "json":
        over = api.patch(path, {"scriptContent": b64(script_of(1001))}, key=acme_key)
        at = lambda: api.patch(path, {"scriptContent": b64(script_of(1000))}, key=acme_key)  # noqa: E731
    else:
        body = encode_multipart(BOUNDARY, {"script": SimpleUploadedFile("t.js", script_of(1001).encode())})
        over = client.patch(path, data=body, content_type=MULTIPART_CONTENT, headers={"X-API-Key": acme_key})
        at_body = encode_multipart(BOUNDARY, {"script": SimpleUploadedFile("t.js", script_of(1000).encode())})
        at = lambda: client.patch(path, data=at_body, content_type=MULTIPART_CONTENT,  # noqa: E731
                                  headers={"X-API-Key": acme_key})
    assert_envelope(over, 400, "invalid_request")
    assert Monitor.objects.for_tenant(acme).get(pk=created["id"]).test.script == K6_SCRIPT
    assert at().status_code == 200
    assert Monitor.objects.for_tenant(acme).get(pk=created["id"]).test.script == script_of(1000)


# --- parameters and request thresholds ------------------------------------------------------------

def many_parameters(n: int) -> dict:
    return {f"P_{i}": "v" for i in range(n)}


@pytest.mark.parametrize("at,past,detail", [
    (many_parameters(MAX_PARAMETERS), many_parameters(MAX_PARAMETERS + 1), str(MAX_PARAMETERS)),
    ({"V": "v" * MAX_PARAMETER_VALUE}, {"V": "v" * (MAX_PARAMETER_VALUE + 1)}, str(MAX_PARAMETER_VALUE)),
    ({"N" * 128: "v"}, {"N" * 129: "v"}, "letters, digits"),  # a name is 1 to 128 characters
], ids=["count", "value", "name"])
def test_parameters_at_the_limit_are_stored_and_past_it_400(api, acme, acme_key, at, past, detail):
    before = stored(acme)
    body = assert_envelope(api.post("/api/monitors", monitor_json(parameters=past), key=acme_key), 400, "invalid_request")
    assert detail in json.dumps(body["details"])
    assert stored(acme) == before
    created = api.post("/api/monitors", monitor_json(parameters=at), key=acme_key)
    assert created.status_code == 201, created.content[:300]
    assert Monitor.objects.for_tenant(acme).get(pk=created.json()["id"]).test.parameters == at


def test_multipart_parameters_past_the_limit_are_400_and_store_nothing(client, acme, acme_key):
    before = stored(acme)
    fields = form(K6_SCRIPT.encode(), **{f"parameters[P_{i}]": "v" for i in range(MAX_PARAMETERS + 1)})
    assert_envelope(multipart(client, acme_key, fields), 400, "invalid_request")
    fields = form(K6_SCRIPT.encode(), **{"parameters[V]": "v" * (MAX_PARAMETER_VALUE + 1)})
    assert_envelope(multipart(client, acme_key, fields), 400, "invalid_request")
    assert stored(acme) == before
    fields = form(K6_SCRIPT.encode(), **{f"parameters[P_{i}]": "v" for i in range(MAX_PARAMETERS)})
    assert multipart(client, acme_key, fields).status_code == 201


@pytest.mark.parametrize("at,past", [
    ({f"r{i}": {"latencyMs": 100} for i in range(MAX_REQUEST_THRESHOLDS)},
     {f"r{i}": {"latencyMs": 100} for i in range(MAX_REQUEST_THRESHOLDS + 1)}),
    ({"n" * MAX_REQUEST_NAME: {"latencyMs": 100}}, {"n" * (MAX_REQUEST_NAME + 1): {"latencyMs": 100}}),
], ids=["names", "name-length"])
def test_request_thresholds_at_the_limit_are_stored_and_past_it_400(api, acme, acme_key, at, past):
    before = stored(acme)
    thresholds = {"latencyMs": 2000}
    over = api.post("/api/monitors", monitor_json(thresholds={**thresholds, "requests": past}), key=acme_key)
    assert_envelope(over, 400, "invalid_request")
    assert stored(acme) == before
    created = api.post("/api/monitors", monitor_json(thresholds={**thresholds, "requests": at}), key=acme_key)
    assert created.status_code == 201, created.content[:300]
    assert set(created.json()["thresholds"]["requests"]) == set(at)


# --- request bodies ---------------------------------------------------------------------------------

def padded(data: dict, size: int) -> str:
    """``data`` as a JSON body of exactly ``size`` bytes (trailing whitespace is valid JSON)."""
    text = json.dumps(data)
    assert len(text) <= size
    return text + " " * (size - len(text))


def test_a_json_body_at_the_default_limit_is_accepted_and_one_byte_past_it_is_413(api, acme, acme_key, settings):
    assert settings.DATA_UPLOAD_MAX_MEMORY_SIZE == DEFAULT_BODY_BYTES
    before = stored(acme)
    over = api.post("/api/monitors", padded(monitor_json(), DEFAULT_BODY_BYTES + 1), key=acme_key)
    assert str(DEFAULT_BODY_BYTES) in assert_envelope(over, 413, "payload_too_large")["message"]
    assert stored(acme) == before
    at = api.post("/api/monitors", padded(monitor_json(), DEFAULT_BODY_BYTES), key=acme_key)
    assert at.status_code == 201, at.content[:300]
    assert stored(acme) == (before[0] + 1, before[1] + 1)


def test_multipart_fields_past_the_body_limit_are_413_and_store_nothing(client, acme, acme_key, settings):
    # Django counts a multipart body's fields (not its files) against DATA_UPLOAD_MAX_MEMORY_SIZE;
    # the script file is bounded by PERFMON_MAX_SCRIPT_BYTES (above).
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    before = stored(acme)
    fields = form(K6_SCRIPT.encode(), **{"parameters[V]": "v" * 8000, "parameters[W]": "w" * 8000})
    assert_envelope(multipart(client, acme_key, fields), 413, "payload_too_large")
    assert stored(acme) == before


# --- /api/v1/tests ------------------------------------------------------------------------------------

def test_v1_scripts_at_the_limit_are_stored_and_one_byte_past_it_400(v1, tokens, acme, settings):  # noqa: F811
    settings.PERFMON_MAX_SCRIPT_BYTES = 1000
    token = tokens("max")
    over = v1.post("/tests", {"name": "big", "tool": "k6", "script": script_of(1001)}, token=token)
    assert "1000" in json.dumps(assert_envelope(over, 400, "invalid_request")["details"]["script"])
    assert not TestDefinition.objects.for_tenant(acme).exists()
    at = v1.post("/tests", {"name": "big", "tool": "k6", "script": script_of(1000)}, token=token)
    assert at.status_code == 201, at.content[:300]
    test_id = at.json()["id"]
    assert TestDefinition.objects.for_tenant(acme).get(pk=test_id).script == script_of(1000)
    assert_envelope(v1.patch(f"/tests/{test_id}", {"script": script_of(1001)}, token=token), 400, "invalid_request")
    assert TestDefinition.objects.for_tenant(acme).get(pk=test_id).script == script_of(1000)


def test_v1_bodies_at_the_limit_are_accepted_past_it_413_and_uploads_415(client, v1, tokens, acme, settings):  # noqa: F811
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    headers = {"Authorization": f"Bearer {tokens('max')}"}
    data = {"name": "body", "tool": "k6", "script": K6_SCRIPT}
    over = client.post("/api/v1/tests", data=padded(data, 10_001), content_type="application/json", headers=headers)
    assert "10000" in assert_envelope(over, 413, "payload_too_large")["message"]
    upload = client.post("/api/v1/tests", data={**data, "script": SimpleUploadedFile("t.js", K6_SCRIPT.encode())},
                         headers=headers)  # /api/v1 takes JSON only
    assert_envelope(upload, 415)
    assert not TestDefinition.objects.for_tenant(acme).exists()
    at = client.post("/api/v1/tests", data=padded(data, 10_000), content_type="application/json", headers=headers)
    assert at.status_code == 201, at.content[:300]


# --- the agent API ------------------------------------------------------------------------------------

@pytest.fixture
def running(enrolled, queued_run):  # noqa: F811
    assert enrolled.post(f"/runs/{queued_run.pk}/claim", {"claim_id": str(uuid.uuid4())}).status_code == 200
    return queued_run


def log_texts(run):
    return list(RunLogChunk.all_tenants.filter(run_id=run.pk).order_by("seq").values_list("text", flat=True))


def test_a_log_chunk_at_the_limit_is_stored_and_one_character_past_it_400(enrolled, running):  # noqa: F811
    path = f"/runs/{running.pk}/logs"
    # The limit is in characters: a chunk of two-byte characters is twice as many bytes.
    over = enrolled.post(path, {"chunks": [{"seq": 0, "text": "é" * (MAX_CHUNK_CHARS + 1)}]})
    assert str(MAX_CHUNK_CHARS) in json.dumps(assert_envelope(over, 400, "invalid_request")["details"])
    assert log_texts(running) == []
    assert enrolled.post(path, {"chunks": [{"seq": 0, "text": "é" * MAX_CHUNK_CHARS}]}).json()["accepted"] == 1
    assert log_texts(running) == ["é" * MAX_CHUNK_CHARS]


def test_a_log_batch_at_the_limit_is_stored_and_one_chunk_past_it_400(enrolled, running):  # noqa: F811
    path = f"/runs/{running.pk}/logs"
    over = enrolled.post(path, {"chunks": [{"seq": seq, "text": "x"} for seq in range(MAX_BATCH + 1)]})
    assert str(MAX_BATCH) in json.dumps(assert_envelope(over, 400, "invalid_request")["details"])
    assert log_texts(running) == []
    at = enrolled.post(path, {"chunks": [{"seq": seq, "text": "x"} for seq in range(MAX_BATCH)]})
    assert at.json()["accepted"] == MAX_BATCH
    assert len(log_texts(running)) == MAX_BATCH


def test_a_heartbeat_lists_at_most_1000_runs(enrolled):  # noqa: F811
    runs = [str(uuid.uuid4()) for _ in range(1001)]
    assert_envelope(enrolled.post("/heartbeat", {"running_runs": runs}), 400, "invalid_request")
    assert enrolled.post("/heartbeat", {"running_runs": runs[:1000]}).status_code == 200


def test_an_agent_body_one_byte_past_the_default_limit_is_413(enrolled, running, settings):  # noqa: F811
    assert settings.DATA_UPLOAD_MAX_MEMORY_SIZE == DEFAULT_BODY_BYTES
    headers = {"Authorization": f"Bearer {enrolled.credential}"}
    data = {"chunks": [{"seq": 0, "text": "x"}]}
    over = enrolled.client.post(f"{BASE}/runs/{running.pk}/logs", data=padded(data, DEFAULT_BODY_BYTES + 1),
                                content_type="application/json", headers=headers)
    assert_envelope(over, 413, "payload_too_large")
    assert log_texts(running) == []
    at = enrolled.client.post(f"{BASE}/runs/{running.pk}/logs", data=padded(data, DEFAULT_BODY_BYTES),
                              content_type="application/json", headers=headers)
    assert at.json()["accepted"] == 1
