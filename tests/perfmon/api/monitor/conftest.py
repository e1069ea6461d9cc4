"""Helpers for the /api tests: envelope checks, scripts, runs and licenses built for real."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from perfmon.runs.models import Run, RunLogChunk, RunStatus
from perfmon.tenants import licensing

K6_SCRIPT = "import http from 'k6/http';\nexport default function () { http.get(__ENV.TARGET_HOST); }\n"


def b64(text: str | bytes) -> str:
    raw = text.encode() if isinstance(text, str) else text
    return base64.b64encode(raw).decode()


def assert_envelope(response, status: int, code: str | None = None) -> dict:
    """The response is the error envelope with ``status`` (and ``code``)."""
    assert response.status_code == status, response.content[:500]
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = response.json()
    assert set(body) <= {"error", "message", "details"}, body
    assert isinstance(body["message"], str) and body["message"], body
    if code is not None:
        assert body["error"] == code, body
    return body


def monitor_json(**overrides) -> dict:
    body = {
        "name": "Login flow",
        "schedule": "*/15 * * * *",
        "tool": "k6",
        "scriptContent": b64(K6_SCRIPT),
        "thresholds": {"latencyMs": 2000, "errorRatePercent": 5.0},
        "parameters": {"TARGET_HOST": "https://api.example.com"},
    }
    body.update(overrides)
    return body


def make_run(tenant, monitor=None, *, status=RunStatus.PASS, agent=None, metrics=None, breaches=None,
             created_at=None, logs=()) -> Run:
    """A run row as dispatch and the agent would leave it (created directly for the read endpoints)."""
    now = timezone.now()
    final = status not in RunStatus.active()
    run = Run.all_tenants.create(
        tenant=tenant, monitor=monitor, test=monitor.test if monitor else None, agent=agent, status=status,
        tool=monitor.test.tool if monitor else "k6",
        started_at=None if status == RunStatus.QUEUED else now - timedelta(seconds=62),
        completed_at=now if final else None,
        metrics=metrics or {}, breaches=breaches or [],
    )
    if created_at is not None:
        Run.all_tenants.filter(pk=run.pk).update(created_at=created_at)
        run.refresh_from_db()
    for seq, text in enumerate(logs):
        RunLogChunk.all_tenants.create(run=run, seq=seq, text=text)
    return run


@pytest.fixture(scope="session")
def vendor():
    """A license vendor key pair: (private key, public PEM)."""
    private_pem, public_pem = licensing.generate_keypair()
    return licensing.load_private_key(private_pem), public_pem


@pytest.fixture
def license_for(vendor, settings):
    """Issue a signed license key for a tenant; the server trusts the vendor's public key."""
    private, public_pem = vendor
    settings.PERFMON_LICENSE_PUBLIC_KEY = public_pem

    def issue(tenant_slug="acme", *, tier="professional", monitor_limit=50, days=365, issued_days_ago=1):
        now = datetime.now(UTC)
        return licensing.sign(
            private, tenant=tenant_slug, tier=tier, monitor_limit=monitor_limit,
            valid_until=now + timedelta(days=days), issued_at=now - timedelta(days=issued_days_ago),
        )

    return issue
