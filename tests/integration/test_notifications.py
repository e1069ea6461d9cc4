"""A real control-plane worker delivers notifications, retrying a receiver that fails twice."""

import time
import uuid

import pytest

from perfmon.alerts.models import DeliveryStatus, Notification, NotificationChannel
from perfmon.runs.ingest import claim_run
from perfmon.runs.judge import finish_run
from perfmon.runs.services import request_run
from runners.protocol import RunReport
from runners.records import RequestRecord
from runners.result import ResultBuilder
from tests.factories import make_agent, make_monitor
from tests.integration.processes import Process, celery, process_env
from tests.receiver import Receiver


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_worker_retries_a_failing_receiver_until_it_succeeds(tmp_path):
    from perfmon.tenants.services import create_tenant

    receiver = Receiver(fail_first=2).start()
    worker = Process("worker", celery("worker", "-Q", "perfmon", "--pool", "solo", "--loglevel", "INFO"),
                     process_env(PERFMON_NOTIFY_BACKOFF_S="0.5"), tmp_path)
    try:
        acme = create_tenant(name="Acme", slug="acme")
        NotificationChannel.objects.create(tenant=acme, name="hook", kind="webhook", url=receiver.url, secret="s")
        agent = make_agent("acme-1", tenant=acme)
        run = request_run(tenant=acme, monitor=make_monitor(acme, thresholds={"latencyMs": 1}))
        claim_run(agent=agent, run_id=run.pk, claim_id=uuid.uuid4())
        builder = ResultBuilder()
        builder.add(RequestRecord(ts=time.time() - 5, latency_ms=50, status=200))
        finish_run(agent=agent, run_id=run.pk, report=RunReport(outcome="completed", exit_code=0,
                                                              result=builder.result()))
        worker.wait_for_output("ready", timeout=60)
        deadline = time.monotonic() + 40
        notification = Notification.objects.for_tenant(acme).get()
        while time.monotonic() < deadline and notification.status == DeliveryStatus.PENDING:
            time.sleep(0.2)
            notification.refresh_from_db()
        assert notification.status == DeliveryStatus.DELIVERED, worker.output()[-3000:]
        assert receiver.answers == [500, 500, 200]
        assert [a.ok for a in notification.delivery_attempts.order_by("number")] == [False, False, True]
        assert receiver.succeeded()[0].json()["event"] == "alert.opened"
    finally:
        worker.stop()
        receiver.stop()
