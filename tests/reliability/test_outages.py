"""The web process, then PostgreSQL, gone for 20 s in the middle of a real k6 run.

A live control plane (gunicorn) reaches PostgreSQL through a TCP link the test
holds (tests/reliability/links.py): cutting it closes every open database
connection and refuses new ones, which is what the web process sees of a
stopped or restarting PostgreSQL, without stopping the server the rest of
the suite shares. While the web process is down the agent spools; while the
database is away the API answers 503 in the envelope (and /healthz says
which part failed); both recover without restarting anything, and every
series point, log chunk and the result arrive exactly once.
"""

from __future__ import annotations

import getpass
import time

import pytest
import requests
from django.db import connection

from perfmon.runs.models import RunStatus, SeriesPoint
from perfmon.tenants.services import create_api_key
from tests.agents.e2e import LiveControlPlane, wait_for
from tests.agents.test_agent_e2e import K6_SCRIPT, check_complete, dispatch, reload, wait_final
from tests.reliability.links import TcpLink
from tests.runners.conftest import require_tool

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True), pytest.mark.timeout(420)]

OUTAGE_S = 20
ME = getpass.getuser()


def database_url_through(link: TcpLink) -> str:
    settings = connection.settings_dict
    return f"postgres://{settings['USER']}:{settings['PASSWORD']}@127.0.0.1:{link.port}/{settings['NAME']}"


def test_web_then_database_outage_mid_run_loses_nothing(django_db_setup, log_dir, tenant, agents, target):
    require_tool("k6")
    if connection.vendor != "postgresql":
        pytest.skip("the database outage needs PostgreSQL (CI runs it)")
    settings = connection.settings_dict
    link = TcpLink(settings["HOST"] or "127.0.0.1", int(settings["PORT"] or 5432)).open()
    plane = LiveControlPlane(log_dir, DATABASE_URL=database_url_through(link)).start()
    key = create_api_key(tenant=tenant, name="outage").value
    api = {"X-API-Key": key}
    try:
        agent = agents(plane, tenant, run_as_user=ME).start()
        run = dispatch(tenant, agent, tool="k6", script=K6_SCRIPT,
                       parameters={"TARGET": target.base_url, "DURATION": "55s"},
                       thresholds={"latencyMs": 2000, "errorRatePercent": 50})
        wait_for(lambda: SeriesPoint.all_tenants.filter(run_id=run.pk).exists(), 60, "the first series point")

        # 1. The web process is stopped for 20 s: the agent keeps measuring and spools.
        plane.stop()
        time.sleep(OUTAGE_S)
        plane.start()
        assert "control plane unreachable" in agent.output()

        # 2. PostgreSQL goes away for 20 s under a running web process.
        link.cut()
        # Counted after the cut (the test's own connection does not go through the link): what the
        # agent's backlog stored just before it is not "stored during the outage".
        stored_before = SeriesPoint.all_tenants.filter(run_id=run.pk).count()
        cut_at = time.monotonic()
        answers = []
        while time.monotonic() - cut_at < OUTAGE_S:
            answer = requests.get(f"{plane.url}/api/runs/{run.pk}", headers=api, timeout=30)
            answers.append((answer.status_code, answer.headers.get("Content-Type", ""), answer.text))
            time.sleep(1)
        health = requests.get(f"{plane.url}/healthz", timeout=30)
        link.restore()

        statuses = {status for status, _, _ in answers}
        assert statuses == {503}, [status for status, _, _ in answers]
        for _, content_type, text in answers:
            assert content_type.startswith("application/json")
            assert '"error":"service_unavailable"' in text.replace(" ", "")
        assert health.status_code == 503 and health.json()["database"]["ok"] is False
        assert SeriesPoint.all_tenants.filter(run_id=run.pk).count() == stored_before, "stored during the outage?"

        # 3. Recovered without a restart: the same web process answers, the agent's spool drains.
        recovered = wait_for(
            lambda: (lambda r: r if r.status_code == 200 else None)(
                requests.get(f"{plane.url}/api/runs/{run.pk}", headers=api, timeout=30)),
            60, "the API answering again",
        )
        assert recovered.json()["id"] == str(run.pk)
        run = wait_final(run, 180, agent)
        assert run.status == RunStatus.PASS, (run.error, agent.output()[-3000:])
        check_complete(reload(run), agent, target)
    finally:
        plane.stop()
        link.close()
