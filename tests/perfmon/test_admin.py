"""The operators' admin: every model's pages render, actions work, secrets never show."""

import uuid

import pytest
from django.contrib import admin
from django.urls import reverse

from perfmon.alerts.models import Alert, NotificationChannel
from perfmon.fleet.models import Agent
from perfmon.fleet.services import create_agent
from perfmon.monitors.models import Monitor
from perfmon.runs.models import Run
from perfmon.tenants.models import ApiKey
from perfmon.tenants.services import create_api_key
from tests.factories import make_monitor


@pytest.fixture
def operator(client, django_user_model):
    user = django_user_model.objects.create_superuser("ops", "ops@example.com", "ops-pw")
    client.force_login(user)
    return client


@pytest.fixture
def world(acme):
    key = create_api_key(tenant=acme, name="ci")
    agent = create_agent(agent_id="eu-1", location="eu", tenant=acme)
    monitor = make_monitor(acme)
    run = Run.objects.create(tenant=acme, monitor=monitor, test=monitor.test, tool="k6")
    alert = Alert.objects.create(tenant=acme, monitor=monitor, kind="run_failed", title="slow", opened_at=run.created_at)
    channel = NotificationChannel.objects.create(tenant=acme, name="hook", kind="webhook",
                                                 url="http://127.0.0.1:9/x", secret="sig-secret-value")
    return {"key": key, "agent": agent, "monitor": monitor, "run": run, "alert": alert, "channel": channel}


def test_every_registered_model_lists_and_opens(operator, world):
    for model, _model_admin in admin.site._registry.items():
        opts = model._meta
        changelist = operator.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))
        assert changelist.status_code == 200, opts.label
        first = model._default_manager.first()
        if first is not None:
            change = operator.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[first.pk]))
            assert change.status_code == 200, opts.label


def test_secrets_never_appear_in_admin_pages(operator, world):
    key, new_agent, channel = world["key"], world["agent"], world["channel"]
    agent = Agent.all_tenants.get(pk="eu-1")
    secrets = [key.value, key.api_key.key_hash, new_agent.enrollment_token, agent.enrollment_hash, channel.secret]
    pages = [
        reverse("admin:tenants_apikey_changelist"),
        reverse("admin:tenants_apikey_change", args=[key.api_key.pk]),
        reverse("admin:fleet_agent_change", args=["eu-1"]),
        reverse("admin:alerts_notificationchannel_change", args=[channel.pk]),
    ]
    for page in pages:
        content = operator.get(page).content.decode()
        assert not [secret for secret in secrets if secret in content], page


def test_actions_revoke_keys_disable_monitors_drain_agents_and_acknowledge(operator, world):
    def act(model, action, pks):
        opts = model._meta
        response = operator.post(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"),
                                 {"action": action, "_selected_action": [str(pk) for pk in pks]})
        assert response.status_code == 302

    act(ApiKey, "revoke", [world["key"].api_key.pk])
    act(Monitor, "disable", [world["monitor"].pk])
    act(Agent, "drain", ["eu-1"])
    act(Alert, "acknowledge", [world["alert"].pk])
    assert ApiKey.all_tenants.get().revoked_at is not None
    assert Monitor.all_tenants.get().enabled is False
    assert Agent.all_tenants.get(pk="eu-1").drained is True
    alert = Alert.all_tenants.get()
    assert alert.state == "acknowledged" and alert.acknowledged_by_label == "ops"


def test_monitor_page_shows_schedule_in_words_and_its_runs(operator, world):
    page = operator.get(reverse("admin:monitors_monitor_change", args=[world["monitor"].pk])).content.decode()
    assert "Every minute" in page
    assert str(world["run"].pk)[:8] in page


def test_non_staff_cannot_reach_the_admin(client, bob):
    client.force_login(bob)
    response = client.get(reverse("admin:monitors_monitor_changelist"))
    assert response.status_code == 302 and "/login/" in response["Location"]
    assert uuid.UUID(str(Monitor.all_tenants.model._meta.pk.default()))  # models keep UUID keys
