"""Judged runs open, update and resolve alerts; channels get exactly the right notifications."""

import hashlib
import hmac
import uuid
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from perfmon.alerts.delivery import attempt_delivery
from perfmon.alerts.liveness import check_agents
from perfmon.alerts.models import (
    Alert,
    AlertKind,
    AlertState,
    DeliveryStatus,
    Notification,
    NotificationChannel,
)
from perfmon.alerts.notify import send_test_notification
from perfmon.alerts.services import acknowledge_alert
from perfmon.fleet.models import Agent
from perfmon.runs.ingest import claim_run
from perfmon.runs.judge import finish_run
from perfmon.runs.services import request_run
from runners.protocol import RunReport
from runners.records import RequestRecord
from runners.result import ResultBuilder
from tests.factories import make_agent, make_monitor
from tests.receiver import Receiver

SECRET = "whsec-test-123"


@pytest.fixture
def receiver():
    server = Receiver().start()
    yield server
    server.stop()


@pytest.fixture
def channels(acme, receiver, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    webhook = NotificationChannel.objects.create(tenant=acme, name="hook", kind="webhook", url=receiver.url,
                                                 secret=SECRET)
    email = NotificationChannel.objects.create(tenant=acme, name="oncall", kind="email", email_to="oncall@acme.test")
    return webhook, email


def result(latency_ms: float, count: int = 20, errors: int = 0):
    builder = ResultBuilder()
    start = timezone.now().timestamp() - 30
    for i in range(count):
        builder.add(RequestRecord(ts=start + i * 0.1, latency_ms=latency_ms, status=500 if i < errors else 200))
    return builder.result()


@pytest.fixture
def run_once(acme):
    agent = make_agent("acme-1", tenant=acme, capacity=5)

    def _run(monitor, *, latency_ms=10.0, outcome="completed", errors=0):
        run = request_run(tenant=acme, monitor=monitor)
        claim_run(agent=agent, run_id=run.pk, claim_id=uuid.uuid4())
        report = RunReport(outcome=outcome, exit_code=0 if outcome == "completed" else 1,
                        result=result(latency_ms, errors=errors) if outcome == "completed" else None,
                        error="" if outcome == "completed" else "k6 exited with 107")
        return finish_run(agent=agent, run_id=run.pk, report=report)

    return _run


def deliver_all():
    """Run every pending delivery once (what the Celery task does per attempt)."""
    for notification in Notification.all_tenants.filter(status=DeliveryStatus.PENDING).order_by("created_at"):
        attempt_delivery(notification.pk)


def test_pass_fail_fail_pass_opens_updates_and_resolves_one_alert(acme, channels, receiver, run_once):
    monitor = make_monitor(acme, thresholds={"latencyMs": 100})
    assert run_once(monitor).status == "pass"
    assert not Alert.objects.for_tenant(acme).exists()

    assert run_once(monitor, latency_ms=300).status == "fail"
    [alert] = Alert.objects.for_tenant(acme)
    assert (alert.state, alert.kind, alert.occurrences) == (AlertState.OPEN, AlertKind.RUN_FAILED, 1)

    run_once(monitor, latency_ms=500)
    [alert] = Alert.objects.for_tenant(acme)
    assert alert.occurrences == 2 and alert.details["worst"]["p95_ms"] == pytest.approx(500, rel=1e-3)

    run_once(monitor)
    [alert] = Alert.objects.for_tenant(acme)
    assert alert.state == AlertState.RESOLVED and alert.resolved_at

    deliver_all()
    events = [r.json()["event"] for r in receiver.requests]
    assert events == ["alert.opened", "alert.updated", "alert.resolved"]
    for request in receiver.requests:
        expected = "sha256=" + hmac.new(SECRET.encode(), request.body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(request.headers["X-Perfmon-Signature"], expected)
        assert request.json()["alert"]["id"] == str(alert.pk)
    assert receiver.requests[0].json()["run"]["thresholdBreaches"][0]["metric"] == "latencyMs"
    assert [m.to for m in mail.outbox] == [["oncall@acme.test"]] * 3
    assert "p95 latency" in mail.outbox[0].subject and "> threshold 100 ms" in mail.outbox[0].subject


def test_error_runs_open_their_own_kind_of_alert(acme, channels, run_once):
    monitor = make_monitor(acme)
    run_once(monitor, outcome="tool_failed")
    [alert] = Alert.objects.for_tenant(acme)
    assert alert.kind == AlertKind.RUN_ERROR and "k6 exited with 107" in alert.title


def test_no_agent_available_raises_an_alert(acme, channels):
    monitor = make_monitor(acme, tool="gatling")
    run = request_run(tenant=acme, monitor=monitor)
    assert run.status == "error"
    [alert] = Alert.objects.for_tenant(acme)
    assert alert.kind == AlertKind.RUN_ERROR and "no agent available" in alert.title


def test_acknowledged_alert_counts_repeats_silently_until_resolved(acme, channels, receiver, run_once):
    monitor = make_monitor(acme, thresholds={"latencyMs": 100})
    run_once(monitor, latency_ms=300)
    alert = Alert.objects.for_tenant(acme).get()
    acknowledge_alert(tenant=acme, alert=alert, note="deploy in progress", actor="alice")
    run_once(monitor, latency_ms=300)
    run_once(monitor, latency_ms=300)
    alert.refresh_from_db()
    assert (alert.state, alert.occurrences, alert.note) == (AlertState.ACKNOWLEDGED, 3, "deploy in progress")
    run_once(monitor)
    deliver_all()
    assert [r.json()["event"] for r in receiver.requests] == ["alert.opened", "alert.resolved"]


def test_alert_only_after_n_consecutive_failures(acme, channels, receiver, run_once):
    monitor = make_monitor(acme, thresholds={"latencyMs": 100}, alert_after_failures=3)
    run_once(monitor, latency_ms=300)
    run_once(monitor, latency_ms=300)
    run_once(monitor)  # the streak breaks
    run_once(monitor, latency_ms=300)
    run_once(monitor, latency_ms=300)
    assert not Alert.objects.for_tenant(acme).exists()
    run_once(monitor, latency_ms=300)
    [alert] = Alert.objects.for_tenant(acme)
    assert alert.state == AlertState.OPEN
    deliver_all()
    assert [r.json()["event"] for r in receiver.requests] == ["alert.opened"]


def test_maintenance_window_holds_alerts_but_runs_are_still_judged(acme, channels, receiver, run_once):
    now = timezone.now()
    monitor = make_monitor(acme, thresholds={"latencyMs": 100}, maintenance_start=now - timedelta(minutes=5),
                           maintenance_end=now + timedelta(minutes=5))
    assert run_once(monitor, latency_ms=300).status == "fail"
    assert not Alert.objects.for_tenant(acme).exists()
    monitor.maintenance_start = monitor.maintenance_end = None
    # A recurring window: every day, all day long (cron at midnight, 24 h).
    monitor.maintenance_cron, monitor.maintenance_minutes = "0 0 * * *", 24 * 60
    monitor.save()
    run_once(monitor, latency_ms=300)
    assert not Alert.objects.for_tenant(acme).exists()
    monitor.maintenance_cron, monitor.maintenance_minutes = "", 0
    monitor.save()
    run_once(monitor, latency_ms=300)
    assert Alert.objects.for_tenant(acme).get().state == AlertState.OPEN
    deliver_all()
    assert [r.json()["event"] for r in receiver.requests] == ["alert.opened"]


def test_failing_channel_retries_with_backoff_and_records_every_attempt(acme, settings, run_once):
    settings.PERFMON_NOTIFY_MAX_ATTEMPTS = 5
    flaky = Receiver(fail_first=2).start()
    try:
        NotificationChannel.objects.create(tenant=acme, name="flaky", kind="webhook", url=flaky.url, secret=SECRET)
        monitor = make_monitor(acme, thresholds={"latencyMs": 100})
        run_once(monitor, latency_ms=300)
        [notification] = Notification.objects.for_tenant(acme)
        waits = [attempt_delivery(notification.pk) for _ in range(3)]
        assert waits == [settings.PERFMON_NOTIFY_BACKOFF_S, 2 * settings.PERFMON_NOTIFY_BACKOFF_S, None]
        notification.refresh_from_db()
        assert (notification.status, notification.attempts) == (DeliveryStatus.DELIVERED, 3)
        attempts = list(notification.delivery_attempts.order_by("number"))
        assert [(a.ok, a.response_code) for a in attempts] == [(False, 500), (False, 500), (True, 200)]
        assert flaky.answers == [500, 500, 200]
    finally:
        flaky.stop()


def test_permanent_rejection_is_not_retried(acme, settings, run_once):
    NotificationChannel.objects.create(tenant=acme, name="gone", kind="webhook", url="http://127.0.0.1:1/none")
    monitor = make_monitor(acme, thresholds={"latencyMs": 100})
    run_once(monitor, latency_ms=300)
    [notification] = Notification.objects.for_tenant(acme)
    settings.PERFMON_NOTIFY_MAX_ATTEMPTS = 2
    assert attempt_delivery(notification.pk) is not None  # connection refused: worth retrying
    assert attempt_delivery(notification.pk) is None  # out of attempts
    notification.refresh_from_db()
    assert notification.status == DeliveryStatus.FAILED and "Connection" in notification.last_error


def test_slack_and_test_notifications(acme, receiver):
    slack = NotificationChannel.objects.create(tenant=acme, name="slack", kind="slack", url=receiver.url,
                                               enabled=False)
    notification = send_test_notification(slack)
    attempt_delivery(notification.pk)
    assert receiver.requests[0].json() == {"text": "Test notification from perfmon to channel 'slack'"}


def test_tenant_agent_going_offline_and_back_opens_and_resolves_an_alert(acme, channels):
    agent = make_agent("acme-9", tenant=acme)
    make_agent("shared-9")  # shared agents are the operators' concern
    Agent.all_tenants.update(enrolled_at=timezone.now(), last_heartbeat_at=timezone.now() - timedelta(minutes=5))
    assert check_agents() == (1, 0)
    assert check_agents() == (0, 0)  # one alert, no storm
    alert = Alert.objects.for_tenant(acme).get(kind=AlertKind.AGENT_OFFLINE)
    assert alert.agent == agent and alert.state == AlertState.OPEN
    Agent.all_tenants.filter(pk="acme-9").update(last_heartbeat_at=timezone.now())
    assert check_agents() == (0, 1)
    alert.refresh_from_db()
    assert alert.state == AlertState.RESOLVED


def test_channels_of_other_tenants_are_not_notified(acme, globex, receiver, run_once):
    NotificationChannel.objects.create(tenant=globex, name="globex", kind="webhook", url=receiver.url)
    run_once(make_monitor(acme, thresholds={"latencyMs": 100}), latency_ms=300)
    deliver_all()
    assert receiver.requests == [] and not Notification.objects.for_tenant(globex).exists()
