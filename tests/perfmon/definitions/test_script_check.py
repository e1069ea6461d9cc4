"""A k6 script that does not parse is refused when it is saved, on every write path, and never run."""

from __future__ import annotations

import shutil

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from perfmon.core.errors import ValidationFailed
from perfmon.definitions.models import TestDefinition
from perfmon.definitions.services import create_test, update_test
from perfmon.monitors.models import Monitor
from tests.conftest import require
from tests.perfmon.api.monitor.conftest import K6_SCRIPT, assert_envelope, b64, monitor_json

BROKEN = "import http from 'k6/http';\nexport default function () { http.get( }\n"
# Modern syntax k6 accepts: optional chaining, nullish coalescing, async, classes.
MODERN = (
    "import http from 'k6/http';\n"
    "class Probe { async hit(url) { return http.get(url ?? 'http://127.0.0.1/'); } }\n"
    "export default function () { const r = new Probe(); return r?.hit(__ENV?.TARGET_HOST); }\n"
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def node():
    require(shutil.which("node") is not None, "Node.js (the k6 script syntax check)")


def test_api_refuses_a_broken_k6_script_with_the_line_and_node_words(api, acme, acme_key):
    body = assert_envelope(api.post("/api/monitors", monitor_json(scriptContent=b64(BROKEN)), key=acme_key), 400)
    message = " ".join(str(value) for value in body["details"].values())
    assert "line 2" in message and "SyntaxError" in message, body
    assert Monitor.objects.for_tenant(acme).count() == 0
    assert TestDefinition.objects.for_tenant(acme).count() == 0


def test_multipart_upload_is_checked_too(client, acme, acme_key):
    response = client.post("/api/monitors", {
        "name": "x", "schedule": "* * * * *", "tool": "k6",
        "script": SimpleUploadedFile("t.js", BROKEN.encode()),
    }, HTTP_X_API_KEY=acme_key)
    body = assert_envelope(response, 400)
    assert "SyntaxError" in body["message"], body


def test_modern_syntax_and_other_tools_pass(api, acme, acme_key):
    assert api.post("/api/monitors", monitor_json(scriptContent=b64(MODERN)), key=acme_key).status_code == 201
    # Only k6 scripts are JavaScript: a Locust file is not parsed as such.
    locust = monitor_json(name="py", tool="locust", scriptContent=b64("from locust import HttpUser\n"))
    assert api.post("/api/monitors", locust, key=acme_key).status_code == 201


def test_update_with_a_broken_script_changes_nothing(acme):
    test = create_test(tenant=acme, name="t", tool="k6", script=K6_SCRIPT)
    with pytest.raises(ValidationFailed, match="SyntaxError"):
        update_test(tenant=acme, test=test, script=BROKEN)
    test.refresh_from_db()
    assert test.script == K6_SCRIPT
    # Switching a Python script's tool to k6 checks it as JavaScript.
    python = create_test(tenant=acme, name="p", tool="locust", script="def f(:\n")
    with pytest.raises(ValidationFailed, match="SyntaxError"):
        update_test(tenant=acme, test=python, tool="k6")


def test_the_check_parses_and_never_runs_the_script(acme, tmp_path):
    marker = tmp_path / "ran"
    script = f"import fs from 'fs';\nfs.writeFileSync({str(marker)!r}, 'x');\nexport default function () {{}}\n"
    create_test(tenant=acme, name="t", tool="k6", script=script)
    assert not marker.exists()


def test_typescript_and_a_server_without_node_leave_it_to_the_first_run(acme, settings):
    create_test(tenant=acme, name="ts", tool="k6", script=BROKEN, script_filename="load.ts")
    settings.PERFMON_NODE_BINARY = ""
    assert create_test(tenant=acme, name="js", tool="k6", script=BROKEN).script == BROKEN
