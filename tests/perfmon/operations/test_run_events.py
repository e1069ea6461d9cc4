"""run.completed webhooks: subscribed channels get a notification when a run is judged."""

from __future__ import annotations

import time
import uuid

import pytest

from perfmon.alerts.channels import sign
from perfmon.alerts.delivery import attempt_delivery
from perfmon.alerts.models import DeliveryStatus, Notification, NotificationChannel
from perfmon.operations.models import TenantSettings
from perfmon.runs.ingest import claim_run
from perfmon.runs.judge import finish_run
from perfmon.runs.services import request_run
from runners.protocol import RunReport
from runners.records import RequestRecord
from runners.result import ResultBuilder
from tests.factories import make_agent, make_monitor
from tests.receiver import Receiver

pytestmark = pytest.mark.django_db(transaction=True)


def judge(tenant, monitor, agent, latency_ms: float):
    run = request_run(tenant=tenant, monitor=monitor)
    claim_run(agent=agent, run_id=run.pk, claim_id=uuid.uuid4())
    builder = ResultBuilder()
    builder.add(RequestRecord(ts=time.time() - 5, latency_ms=latency_ms, status=200))
    return finish_run(agent=agent, run_id=run.pk, report=RunReport(outcome="completed", exit_code=0,
                                                                 result=builder.result()))


def test_a_subscribed_webhook_receives_run_completed_signed(acme, globex):
    receiver = Receiver().start()
    try:
        hook = NotificationChannel.objects.create(tenant=acme, name="ci", kind="webhook", url=receiver.url,
                                                  secret="hush")
        NotificationChannel.objects.create(tenant=acme, name="not subscribed", kind="webhook", url=receiver.url)
        TenantSettings.objects.create(tenant=acme).run_completed_channels.add(hook)
        agent = make_agent("acme-1", tenant=acme)
        monitor = make_monitor(acme, name="Checkout", thresholds={"latencyMs": 1000})
        run = judge(acme, monitor, agent, 50)
        notification = Notification.objects.for_tenant(acme).get(event="run.completed")
        assert notification.channel == hook
        assert attempt_delivery(notification.pk) is None
        notification.refresh_from_db()
        assert notification.status == DeliveryStatus.DELIVERED
        [received] = receiver.requests
        body = received.json()
        assert received.headers["X-Perfmon-Event"] == "run.completed"
        assert received.headers["X-Perfmon-Delivery"] == str(notification.pk)
        assert received.headers["X-Perfmon-Signature"] == sign("hush", received.body)
        assert body["event"] == "run.completed" and body["tenant"] == "acme"
        assert body["run"]["id"] == str(run.pk) and body["run"]["status"] == "pass"
        assert body["run"]["monitorName"] == "Checkout" and body["run"]["metrics"]["count"] == 1
    finally:
        receiver.stop()


def test_no_subscription_no_notification_and_fails_are_sent_too(acme):
    agent = make_agent("acme-2", tenant=acme)
    judge(acme, make_monitor(acme), agent, 50)
    assert not Notification.objects.for_tenant(acme).filter(event="run.completed").exists()
    hook = NotificationChannel.objects.create(tenant=acme, name="ci", kind="webhook", url="http://127.0.0.1:9/")
    TenantSettings.objects.create(tenant=acme).run_completed_channels.add(hook)
    run = judge(acme, make_monitor(acme, thresholds={"latencyMs": 1}), agent, 50)
    notification = Notification.objects.for_tenant(acme).get(event="run.completed")
    assert notification.payload["run"]["status"] == "fail" == run.status
    assert notification.payload["run"]["thresholdBreaches"][0]["metric"] == "latencyMs"


def test_disabled_or_foreign_channels_get_nothing(acme, globex):
    disabled = NotificationChannel.objects.create(tenant=acme, name="off", kind="webhook",
                                                  url="http://127.0.0.1:9/", enabled=False)
    foreign = NotificationChannel.objects.create(tenant=globex, name="theirs", kind="webhook",
                                                 url="http://127.0.0.1:9/")
    TenantSettings.objects.create(tenant=acme).run_completed_channels.add(disabled, foreign)
    judge(acme, make_monitor(acme), make_agent("acme-3", tenant=acme), 50)
    assert not Notification.all_tenants.filter(event="run.completed").exists()


def test_runs_ended_without_an_agent_or_before_start_are_reported_too(acme):
    from perfmon.runs.services import cancel_run

    hook = NotificationChannel.objects.create(tenant=acme, name="ci", kind="webhook", url="http://127.0.0.1:9/")
    TenantSettings.objects.create(tenant=acme).run_completed_channels.add(hook)
    no_agent = request_run(tenant=acme, monitor=make_monitor(acme))
    make_agent("acme-3", tenant=acme)
    cancelled = cancel_run(tenant=acme, run_id=request_run(tenant=acme, monitor=make_monitor(acme)).pk)
    statuses = {n.payload["run"]["id"]: n.payload["run"]["status"]
                for n in Notification.objects.for_tenant(acme).filter(event="run.completed")}
    assert statuses == {str(no_agent.pk): "error", str(cancelled.pk): "cancelled"}
