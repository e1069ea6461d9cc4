"""The sweeper's three cases: unpublished runs, lost agents, runs stuck queued or running."""

import shutil
import socket
import subprocess
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from perfmon.fleet.models import Agent
from perfmon.runs.models import Run, RunStatus
from perfmon.runs.services import request_run
from perfmon.runs.sweeper import sweep
from runners.protocol import agent_queue
from tests.broker import purge, take_assignments
from tests.conftest import require
from tests.factories import make_agent, make_monitor


@pytest.fixture(autouse=True)
def clean_queue():
    purge(agent_queue("acme-1"))


def use_broker(url: str) -> None:
    """Point the control plane's Celery app (and its connection pools) at ``url``."""
    from perfmon.celery import app

    app.conf.broker_url = url
    app._pool = None
    app.amqp._producer_pool = None


@pytest.fixture
def private_redis(tmp_path):
    """A Redis server of this test's own, so it can really be stopped and started again."""
    binary = shutil.which("redis-server")
    require(binary is not None, "redis-server")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]

    class Server:
        url = f"redis://127.0.0.1:{port}/0"
        proc = None

        def start(self):
            self.proc = subprocess.Popen(
                [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no",
                 "--dir", str(tmp_path)], stdout=subprocess.DEVNULL,
            )
            import redis

            for _ in range(100):
                try:
                    if redis.Redis.from_url(self.url).ping():
                        return
                except redis.ConnectionError:
                    time.sleep(0.05)
            raise RuntimeError("redis-server did not start")

        def stop(self):
            self.proc.terminate()
            self.proc.wait(timeout=10)

    from django.conf import settings

    server = Server()
    server.start()
    use_broker(server.url)
    yield server
    use_broker(settings.CELERY_BROKER_URL)
    if server.proc.poll() is None:
        server.stop()


def age(run, seconds):
    Run.all_tenants.filter(pk=run.pk).update(created_at=timezone.now() - timedelta(seconds=seconds))


def test_run_published_while_broker_down_is_published_by_the_sweeper(acme, private_redis, django_capture_on_commit_callbacks):
    make_agent("acme-1", tenant=acme)
    private_redis.stop()
    with django_capture_on_commit_callbacks(execute=True):
        run = request_run(tenant=acme, monitor=make_monitor(acme))
    run.refresh_from_db()
    assert run.status == RunStatus.QUEUED and run.published_at is None  # the broker never got it
    age(run, 60)
    assert sweep().republished == 0  # still down: nothing published, nothing lost

    private_redis.start()
    assert sweep().republished == 1
    run.refresh_from_db()
    assert run.published_at is not None
    assert [a["run_id"] for a in take_assignments(agent_queue("acme-1"))] == [str(run.pk)]
    assert sweep().republished == 0  # published runs are not sent again


def test_recent_unpublished_runs_are_left_to_their_own_publish(acme):
    make_agent("acme-1", tenant=acme)
    run = request_run(tenant=acme, monitor=make_monitor(acme))  # on_commit never ran: unpublished
    assert sweep().republished == 0
    age(run, 60)
    assert sweep().republished == 1


def test_active_runs_of_a_lost_agent_end_in_error(acme):
    make_agent("acme-1", tenant=acme)
    run = request_run(tenant=acme, monitor=make_monitor(acme))
    Run.all_tenants.filter(pk=run.pk).update(status=RunStatus.RUNNING, claimed_at=timezone.now())
    assert sweep().agent_lost == 0  # agent still heartbeating
    Agent.all_tenants.filter(pk="acme-1").update(last_heartbeat_at=timezone.now() - timedelta(minutes=10))
    assert sweep().agent_lost == 1
    run.refresh_from_db()
    assert run.status == RunStatus.ERROR and run.error.startswith("agent lost") and run.completed_at


def test_queued_run_no_agent_started_expires(acme, settings):
    make_agent("acme-1", tenant=acme)
    run = request_run(tenant=acme, monitor=make_monitor(acme))
    age(run, settings.PERFMON_QUEUED_TIMEOUT - 30)
    assert sweep().expired == 0
    age(run, settings.PERFMON_QUEUED_TIMEOUT + 30)
    assert sweep().expired == 1
    run.refresh_from_db()
    assert run.status == RunStatus.ERROR and run.error.startswith("expired")


def test_running_run_never_reported_expires_after_twice_the_time_limit(acme, settings):
    make_agent("acme-1", tenant=acme)
    run = request_run(tenant=acme, monitor=make_monitor(acme))
    long_ago = timezone.now() - timedelta(seconds=2 * settings.PERFMON_RUN_TIME_LIMIT + 5)
    Run.all_tenants.filter(pk=run.pk).update(status=RunStatus.RUNNING, claimed_at=long_ago)
    assert sweep().expired == 1
    run.refresh_from_db()
    assert run.status == RunStatus.ERROR
