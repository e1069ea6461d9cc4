"""Schemathesis against both OpenAPI documents, on a live server over real HTTP.

/api with two tenants' API keys, /api/v1 with two tenants' real Keycloak access
tokens (password grant). Every check schemathesis has runs, the stateful phase
and its object-level authorization check (the two tenants are its peers, so
an id one tenant created or listed is replayed with the other's credential)
included. The run passes only with 0 failures, 0 errors and 0 warnings; a
"mostly rejected generated data" warning means the schema says less than the
API checks and is fixed in the schema, save for the few inputs listed in
MOSTLY_REJECTED that OpenAPI 3.0 cannot state.

Bounded: PERFMON_FUZZ_EXAMPLES examples per operation (the suite: the default
below; `make fuzz`: 200) and a fixed seed unless PERFMON_FUZZ_SEED is set, so
a failure replays with the seed the run prints. PERFMON_FUZZ_MAX_TIME (s)
makes the fuzzing and stateful phases repeat until it is spent;
PERFMON_FUZZ_ARGS adds `st run` options (``--include-name 'GET /api/runs'``).
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from perfmon.accounts.provider import reset_cache
from perfmon.tenants.services import create_api_key
from tests.perfmon.api.monitor.conftest import license_for, vendor  # noqa: F401 - fixtures
from tests.perfmon.api.test_isolation_matrix import world

EXAMPLES = int(os.environ.get("PERFMON_FUZZ_EXAMPLES", "8"))
# One worker: with the fixed seed the suite's run is the same every time.
WORKERS = os.environ.get("PERFMON_FUZZ_WORKERS", "1")
SEED = int(os.environ.get("PERFMON_FUZZ_SEED", "20261204"))
MAX_TIME_S = int(os.environ.get("PERFMON_FUZZ_MAX_TIME", "0"))
ST = Path(sys.executable).with_name("st")


# Operations whose inputs are checked against what no OpenAPI 3.0 schema can state: another object by id (an
# agent of the tenant's, a test), a cron expression that ever fires, object keys that are environment
# variable names (3.0 has no propertyNames), base64 that decodes to UTF-8 text, a license key's signature.
# Everything that can be stated is (docs/reliability.md, *Fuzzed against both documents*); for these a
# schema-valid body may still be a 400, so `positive_data_acceptance` is off for them alone. Every other
# check (no 5xx, schema conformance of every answer, invalid data refused, authorization) runs on them too.
SEMANTIC = {
    "api": ["POST /api/monitors", "PATCH /api/monitors/{monitorId}", "POST /api/settings/license"],
    "v1": ["POST /api/v1/tests", "PATCH /api/v1/tests/{test_id}", "POST /api/v1/tasks"],
}
# "Mostly rejected generated data" allowed for these alone, and only in some phases (schemathesis judges each
# phase apart): a license key is valid only when signed by the vendor key (the fuzzing phase posts real
# signed keys half the time, which are accepted; the coverage phase's boundary strings never can be); a
# monitor's script is base64 of UTF-8 text or a UTF-8 file, and its parameters' names are environment
# variable names, which OpenAPI 3.0 cannot state (random bytes are rarely UTF-8).
MOSTLY_REJECTED = {"POST /api/settings/license", "POST /api/monitors", "PATCH /api/monitors/{monitorId}"}
# Every warning schemathesis has fails the run, but that one, which the test checks itself.
FAIL_ON = ["missing_auth", "missing_test_data", "base_url_mismatch", "missing_deserializer", "unused_openapi_auth",
           "unsupported_regex", "method_not_allowed", "unresolvable_reference", "low_valid_rate", "rate_limited",
           "dictionary_mismatch", "unmatched_filter"]


def toml_value(value) -> str:
    """A TOML inline value of a str or of a {key: str | number} table."""
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {json.dumps(v)}" for k, v in value.items()) + " }"
    return json.dumps(value)


def config_toml(auth: Path, peers: list[str], semantic: list[str], parameters: dict[str, dict],
                dictionaries: dict[str, list[str]]) -> str:
    lines = [
        "[warnings]", f"fail-on = {json.dumps(FAIL_ON)}", "",
        "[checks]", "enabled = true", "",
        "[auth.wfc]", f"path = {json.dumps(str(auth))}", f"peers = {json.dumps(peers)}", "",
    ]
    for name, values in dictionaries.items():
        lines += [f"[dictionaries.{name}]", f"values = {json.dumps(values)}", ""]
    # One block per operation: schemathesis applies the first block that matches.
    for name in dict.fromkeys([*semantic, *parameters]):
        lines += ["[[operations]]", f"include-name = {json.dumps(name)}"]
        if name in semantic:
            lines.append("checks.positive_data_acceptance.enabled = false")
        if name in parameters:
            lines.append("parameters = { " + ", ".join(f"{json.dumps(k)} = {toml_value(v)}"
                                                       for k, v in parameters[name].items()) + " }")
        lines.append("")
    return "\n".join(lines)


def fuzz(tmp_path: Path, schema_url: str, base_url: str, peers: dict[str, dict[str, str]], *,
         semantic: list[str], parameters: dict[str, dict] | None = None,
         dictionaries: dict[str, list[str]] | None = None) -> dict:
    """Run schemathesis; returns its JSON report, failing the test on any failure, error or warning."""
    auth = tmp_path / "auth.json"
    auth.write_text(json.dumps({"auth": [
        {"name": name, "fixedHeaders": [{"name": header, "value": value} for header, value in headers.items()]}
        for name, headers in peers.items()
    ]}))
    config = tmp_path / "schemathesis.toml"
    config.write_text(config_toml(auth, list(peers), semantic, parameters or {}, dictionaries or {}))
    report_path = tmp_path / "report.json"
    command = [
        str(ST), "--config-file", str(config), "run", schema_url, "--url", base_url,
        "--phases", "examples,coverage,fuzzing,stateful",
        "--max-examples", str(EXAMPLES), "--seed", str(SEED), "--workers", WORKERS,
        "--request-timeout", "30", "--report", "json", "--report-json-path", str(report_path), "--no-color",
    ]
    if MAX_TIME_S:
        command += ["--max-time", str(MAX_TIME_S)]
    command += shlex.split(os.environ.get("PERFMON_FUZZ_ARGS", ""))
    done = subprocess.run(command, capture_output=True, text=True, timeout=3600, check=False, cwd=tmp_path,
                          env={**os.environ, "NO_COLOR": "1"})
    output = done.stdout + done.stderr
    (tmp_path / "schemathesis.log").write_text(output)
    assert done.returncode == 0, output[-12000:]
    report = json.loads(report_path.read_text())
    assert report["complete"] and report["operations"]["tested"] == report["operations"]["selected"] > 0, output[-3000:]
    assert not report["failures"] and not report["errors"], output[-12000:]
    warnings = {kind: names for kind, names in report["warnings"].items() if names}
    assert set(warnings.pop("validation_mismatch", [])) <= MOSTLY_REJECTED, output[-6000:]
    assert not warnings, output[-6000:]
    print(output[output.find("Test cases:"):])
    return report


@pytest.fixture
def fuzz_settings(settings):
    # Thousands of requests of one key; the limiter's 429s are tested elsewhere.
    settings.PERFMON_API_RATE_LIMIT = "off"
    return settings


@pytest.mark.integration
@pytest.mark.timeout(3600)
def test_perf_monitor_api_holds_under_schemathesis(tmp_path, live_server, fuzz_settings, acme, globex,
                                                   license_for):  # noqa: F811 - the imported fixture
    ids = world(acme, "acme fuzz")
    world(globex, "globex fuzz")
    peers = {
        "acme": {"X-API-Key": create_api_key(tenant=acme, name="fuzz").value},
        "globex": {"X-API-Key": create_api_key(tenant=globex, name="fuzz").value},
    }
    # Compare needs two of the tenant's run ids, which no operation of the API creates; half the license
    # keys posted are really signed ones (for either tenant), so installing one is tried too.
    fuzz(tmp_path, f"{live_server.url}/api/schema/?format=json", live_server.url, peers, semantic=SEMANTIC["api"],
         parameters={
             "GET /api/runs/compare": {"ids": f"{ids['run']},{ids['other_run']}"},
             "POST /api/settings/license": {"body.licenseKey": {"dictionary": "licenses", "probability": 0.5}},
         },
         dictionaries={"licenses": [license_for("acme"), license_for("globex")]})


@pytest.mark.integration
@pytest.mark.timeout(3600)
def test_perfscale_api_holds_under_schemathesis(tmp_path, live_server, fuzz_settings, keycloak, acme, globex):
    for name, value in keycloak.settings().items():
        setattr(fuzz_settings, name, value)
    reset_cache()
    world(acme, "acme fuzz")
    world(globex, "globex fuzz")
    peers = {
        "acme": {"Authorization": f"Bearer {keycloak.token('ada')}"},
        "globex": {"Authorization": f"Bearer {keycloak.token('gina')}"},
    }
    try:
        fuzz(tmp_path, f"{live_server.url}/api-docs/openapi.json", live_server.url, peers, semantic=SEMANTIC["v1"])
    finally:
        reset_cache()
