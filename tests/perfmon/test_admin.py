"""The operators' admin: every model's pages render, actions and change forms write through the services,
secrets never show."""

import uuid
from zoneinfo import ZoneInfo

import pytest
from django import forms
from django.contrib import admin
from django.urls import reverse
from django.utils import timezone

from perfmon.alerts.models import Alert, NotificationChannel
from perfmon.alerts.services import create_channel
from perfmon.definitions.models import TestDefinition
from perfmon.definitions.services import create_test
from perfmon.fleet.models import Agent
from perfmon.fleet.services import create_agent
from perfmon.monitors.models import Monitor
from perfmon.operations.models import AuditAction, AuditEntry
from perfmon.runs.models import Run
from perfmon.tenants.models import ApiKey, Membership
from perfmon.tenants.services import authenticate_api_key, create_api_key
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


# --- every action and change form goes through the services ------------------------------------


def act(operator, model, action, pks):
    opts = model._meta
    response = operator.post(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"),
                             {"action": action, "_selected_action": [str(pk) for pk in pks]}, follow=True)
    assert response.status_code == 200
    return [str(message) for message in response.context["messages"]]


def _form_values(form) -> dict:
    """What a browser would send back for ``form`` untouched."""
    data = {}
    for name, field in form.fields.items():
        value = form[name].value()
        widget = field.widget
        if isinstance(widget, forms.MultiWidget):
            for index, part in enumerate(widget.decompress(value)):
                data[form.add_prefix(f"{name}_{index}")] = "" if part is None else str(part)
        elif isinstance(field, forms.BooleanField):
            if value:
                data[form.add_prefix(name)] = "on"
        else:
            data[form.add_prefix(name)] = "" if value is None else str(value)
    return data


def change(operator, obj, **edits):
    """POST ``obj``'s admin change form with ``edits`` over its current values; the response."""
    opts = obj._meta
    url = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])
    page = operator.get(url)
    data = _form_values(page.context["adminform"].form)
    for inline in page.context["inline_admin_formsets"]:
        formset = inline.formset
        data.update(_form_values(formset.management_form))
        for form in formset.forms:
            data.update(_form_values(form))
    data.update({name: value for name, value in edits.items() if value is not None})
    for name in [name for name, value in edits.items() if value is None]:
        data.pop(name, None)
    return operator.post(url, data)


def form_errors(response) -> dict:
    assert response.status_code == 200, "the form was accepted"
    form = response.context["adminform"].form
    return {name: [str(message) for message in messages] for name, messages in form.errors.items()}


def test_enable_action_schedules_the_monitors_it_enables(operator, acme):
    monitor = make_monitor(acme, enabled=False, schedule="*/10 * * * *")
    assert monitor.next_run_at is None
    messages = act(operator, Monitor, "enable", [monitor.pk])
    stored = Monitor.all_tenants.get(pk=monitor.pk)
    assert stored.enabled is True
    assert stored.next_run_at is not None and stored.next_run_at > timezone.now()
    assert stored.next_run_at.minute % 10 == 0 and stored.next_run_at.second == 0
    assert "1 monitor(s) enabled." in messages
    act(operator, Monitor, "disable", [monitor.pk])
    stored = Monitor.all_tenants.get(pk=monitor.pk)
    assert stored.enabled is False and stored.next_run_at is None


def test_enable_action_leaves_a_monitor_whose_schedule_cannot_run_and_says_why(operator, acme):
    good = make_monitor(acme, name="good", enabled=False, schedule="0 3 * * *")
    bad = make_monitor(acme, name="broken", enabled=False, schedule="61 * * * *")  # as an old row might hold
    messages = act(operator, Monitor, "enable", [good.pk, bad.pk])
    assert Monitor.all_tenants.get(pk=good.pk).next_run_at is not None
    stored = Monitor.all_tenants.get(pk=bad.pk)
    assert stored.enabled is False and stored.next_run_at is None
    assert "1 monitor(s) enabled." in messages
    assert [message for message in messages if message.startswith("broken: schedule:")]


def test_monitor_form_validates_the_schedule_and_thresholds_and_stores_nothing_bad(operator, acme):
    monitor = make_monitor(acme, schedule="*/5 * * * *")
    before = Monitor.all_tenants.get(pk=monitor.pk)
    errors = form_errors(change(operator, monitor, schedule="every five minutes"))
    assert list(errors) == ["schedule"]
    errors = form_errors(change(operator, monitor, thresholds='{"latencyPercentile": 42, "errorRatePercent": 500}'))
    assert errors == {"thresholds": ["latencyPercentile: Must be one of 50, 90, 95, 99.",
                                     "errorRatePercent: Must be at least 0 and at most 100."]}
    errors = form_errors(change(operator, monitor, parameters='{"BAD NAME": "x"}'))
    assert errors == {"parameters": ["BAD NAME: A name is letters, digits and underscores, not starting with a digit."]}
    stored = Monitor.all_tenants.select_related("test").get(pk=monitor.pk)
    assert (stored.schedule, stored.thresholds, stored.parameters, stored.test.parameters) == (
        "*/5 * * * *", before.thresholds, before.parameters, before.test.parameters)
    assert stored.updated_at == before.updated_at


def test_monitor_form_saves_through_the_service_and_keeps_timing_read_only(operator, acme):
    monitor = make_monitor(acme, schedule="*/5 * * * *")
    page = operator.get(reverse("admin:monitors_monitor_change", args=[monitor.pk]))
    form = page.context["adminform"].form
    assert not {"next_run_at", "last_run_at", "last_status", "tenant", "test"} & set(form.fields)
    response = change(operator, monitor, schedule="30  12 * * *", timezone="Asia/Tokyo",
                      thresholds='{"latencyMs": 750.0}', parameters='{"USERS": 5}',
                      next_run_at_0="2001-01-01", next_run_at_1="00:00:00")
    assert response.status_code == 302, form_errors(response)
    stored = Monitor.all_tenants.select_related("test").get(pk=monitor.pk)
    assert stored.schedule == "30 12 * * *"  # normalised by the service
    local = stored.next_run_at.astimezone(ZoneInfo("Asia/Tokyo"))
    assert (local.hour, local.minute) == (12, 30) and stored.next_run_at > timezone.now()
    assert stored.thresholds == {"latencyMs": 750}
    assert stored.parameters == stored.test.parameters == {"USERS": "5"}
    # The audit log names the operator, from the request, as for every other caller.
    entry = AuditEntry.all_tenants.filter(object_type="monitor", action=AuditAction.UPDATED).latest("at")
    assert entry.actor == "user:ops" and entry.changes["schedule"] == ["*/5 * * * *", "30 12 * * *"]


def test_monitor_form_changes_its_test_definition_with_it(operator, acme):
    monitor = make_monitor(acme)
    response = change(operator, monitor, name="Renamed", script="export default function () { return 1; }\r\n")
    assert response.status_code == 302, form_errors(response)
    stored = Monitor.all_tenants.select_related("test").get(pk=monitor.pk)
    assert stored.name == stored.test.name == "Renamed"
    assert stored.test.script == "export default function () { return 1; }\n"


def test_monitor_admin_adds_nothing_and_deletes_the_monitor_with_its_test(operator, acme):
    monitor = make_monitor(acme)
    assert operator.get(reverse("admin:monitors_monitor_add")).status_code == 403
    response = operator.post(reverse("admin:monitors_monitor_delete", args=[monitor.pk]), {"post": "yes"})
    assert response.status_code == 302
    assert not Monitor.all_tenants.exists() and not TestDefinition.all_tenants.exists()


def test_test_definition_form_refuses_parameters_the_tool_cannot_take(operator, acme):
    test = create_test(tenant=acme, name="api", tool="k6", script="export default function () {}\n",
                       parameters={"USERS": "5"})
    errors = form_errors(change(operator, test, parameters='{"TOKEN": "a\\u0000b"}'))
    assert errors == {"parameters": ["TOKEN: Null characters are not allowed."]}
    assert TestDefinition.all_tenants.get().parameters == {"USERS": "5"}
    response = change(operator, test, parameters='{"USERS": 10}', status="active")
    assert response.status_code == 302, form_errors(response)
    stored = TestDefinition.all_tenants.get()
    assert (stored.parameters, stored.status) == ({"USERS": "10"}, "active")


def test_a_monitors_own_test_is_changed_on_the_monitors_page(operator, acme):
    monitor = make_monitor(acme)
    page = operator.get(reverse("admin:definitions_testdefinition_change", args=[monitor.test_id]))
    assert not page.context["adminform"].form.fields


def test_agent_form_changes_only_what_operators_decide(operator, acme):
    create_agent(agent_id="eu-2", location="eu", tenant=acme, hostname="box-2", cpu_cores=4)
    agent = Agent.all_tenants.get(pk="eu-2")
    form = operator.get(reverse("admin:fleet_agent_change", args=["eu-2"])).context["adminform"].form
    assert set(form.fields) == {"name", "location", "capacity", "drained"}
    assert "capacity" in form_errors(change(operator, agent, capacity="0"))
    response = change(operator, agent, location=" us-east ", capacity="3", drained="on", hostname="elsewhere")
    assert response.status_code == 302, form_errors(response)
    stored = Agent.all_tenants.get(pk="eu-2")
    assert (stored.location, stored.capacity, stored.drained, stored.hostname) == ("us-east", 3, True, "box-2")
    act(operator, Agent, "undrain", ["eu-2"])
    assert Agent.all_tenants.get(pk="eu-2").drained is False


def test_revoke_action_keeps_the_first_revocation_time(operator, acme):
    key = create_api_key(tenant=acme, name="ci").api_key
    messages = act(operator, ApiKey, "revoke", [key.pk])
    first = ApiKey.all_tenants.get().revoked_at
    assert first is not None and "1 key(s) revoked." in messages
    messages = act(operator, ApiKey, "revoke", [key.pk])
    assert ApiKey.all_tenants.get().revoked_at == first and "0 key(s) revoked." in messages
    assert not operator.get(reverse("admin:tenants_apikey_change", args=[key.pk])).context["adminform"].form.fields


def test_channel_added_with_a_config_its_kind_cannot_use_is_refused_and_nothing_stored(operator, acme):
    url = reverse("admin:alerts_notificationchannel_add")
    base = {"tenant": acme.pk, "name": "ops", "kind": "webhook", "url": "", "secret": "", "email_to": "",
            "enabled": "on"}
    assert form_errors(operator.post(url, base)) == {"url": ["A webhook channel needs the URL it posts to."]}
    errors = form_errors(operator.post(url, {**base, "kind": "email", "email_to": "ops@acme.test, nobody"}))
    assert errors == {"email_to": ["Not an e-mail address: nobody."]}
    assert not NotificationChannel.all_tenants.exists()
    response = operator.post(url, {**base, "kind": "email", "email_to": "ops@acme.test ,dev@acme.test"})
    assert response.status_code == 302, form_errors(response)
    assert NotificationChannel.objects.for_tenant(acme).get().email_to == "ops@acme.test, dev@acme.test"


def test_channel_form_checks_changes_with_what_is_kept_and_keeps_the_secret_unless_replaced(operator, world):
    channel = world["channel"]
    form = operator.get(reverse("admin:alerts_notificationchannel_change", args=[channel.pk])).context["adminform"].form
    assert "tenant" not in form.fields  # a channel stays with its tenant
    before = NotificationChannel.all_tenants.get(pk=channel.pk)
    errors = form_errors(change(operator, channel, kind="email", email_to="ops@acme.test"))
    assert errors == {"url": ["Not used by E-mail channels; leave it empty."]}
    assert NotificationChannel.all_tenants.get(pk=channel.pk).updated_at == before.updated_at

    response = change(operator, channel, name="renamed", secret="")
    assert response.status_code == 302, form_errors(response)
    stored = NotificationChannel.all_tenants.get(pk=channel.pk)
    assert (stored.name, stored.secret) == ("renamed", "sig-secret-value")
    response = change(operator, channel, secret="new-key")
    assert response.status_code == 302, form_errors(response)
    assert NotificationChannel.all_tenants.get(pk=channel.pk).secret == "new-key"
    entry = AuditEntry.all_tenants.filter(object_type="channel", action=AuditAction.UPDATED).latest("at")
    assert entry.actor == "user:ops" and entry.changes == {"secret": "(changed)"}

    response = operator.post(reverse("admin:alerts_notificationchannel_delete", args=[channel.pk]), {"post": "yes"})
    assert response.status_code == 302 and not NotificationChannel.all_tenants.exists()


def test_a_slack_channels_url_is_its_credential_kept_unless_replaced_and_never_shown(operator, acme):
    slack = "https://hooks.slack.com/services/T0/B0/slack-url-secret"
    channel = create_channel(tenant=acme, name="ops slack", kind="slack", url=slack)
    url = reverse("admin:alerts_notificationchannel_change", args=[channel.pk])
    page = operator.get(url)
    assert page.status_code == 200 and b"slack-url-secret" not in page.content
    assert b"hooks.slack.com/" in page.content  # which host it posts to is shown

    response = change(operator, channel, name="ops slack 2")  # the form sends the URL field empty
    assert response.status_code == 302, form_errors(response)
    assert NotificationChannel.all_tenants.get(pk=channel.pk).url == slack
    replaced = "https://hooks.slack.com/services/T0/B0/another-secret"
    assert change(operator, channel, url=replaced).status_code == 302
    assert NotificationChannel.all_tenants.get(pk=channel.pk).url == replaced
    for entry in AuditEntry.all_tenants.filter(object_type="channel"):
        assert "slack-url-secret" not in str(entry.changes) and "another-secret" not in str(entry.changes)


def _membership_row(page, user) -> str:
    """The form prefix of ``user``'s row in the tenant page's membership inline."""
    [inline] = page.context["inline_admin_formsets"]
    return next(form.prefix for form in inline.formset.forms if form.instance.user_id == user.pk)


def test_tenant_form_deactivates_through_the_service_and_keeps_the_slug(operator, acme):
    key = create_api_key(tenant=acme, name="ci").value
    form = operator.get(reverse("admin:tenants_tenant_change", args=[acme.pk])).context["adminform"].form
    assert set(form.fields) == {"name", "is_active"}
    response = change(operator, acme, name=" Acme Corp ", is_active=None, slug="elsewhere")
    assert response.status_code == 302, form_errors(response)
    stored = type(acme).objects.get(pk=acme.pk)
    assert (stored.name, stored.slug, stored.is_active) == ("Acme Corp", "acme", False)
    assert authenticate_api_key(key) is None
    response = operator.post(reverse("admin:tenants_tenant_add"), {"name": " Initech ", "slug": "initech"})
    assert response.status_code == 302, form_errors(response)
    stored = type(acme).objects.get(slug="initech")
    assert (stored.name, stored.is_active) == ("Initech", False)


def test_membership_rows_go_through_the_services_and_a_refused_row_undoes_the_whole_page(operator, acme, alice, bob,
                                                                                         mallory):
    page = operator.get(reverse("admin:tenants_tenant_change", args=[acme.pk]))
    alice_row, bob_row = _membership_row(page, alice), _membership_row(page, bob)
    # Bob's row moves to mallory, who belongs to globex: refused on the row, and the rename posted with it
    # is not kept either.
    response = change(operator, acme, name="Renamed", **{f"{bob_row}-user": str(mallory.pk)})
    errors = response.context["inline_admin_formsets"][0].formset.errors
    assert [row for row in errors if row.get("user")], errors
    assert type(acme).objects.get(pk=acme.pk).name == "Acme"
    assert Membership.all_tenants.get(user=mallory).tenant.slug == "globex"

    response = change(operator, acme, **{f"{alice_row}-role": "owner"})
    errors = response.context["inline_admin_formsets"][0].formset.errors
    assert [row for row in errors if row.get("role")], errors

    response = change(operator, acme, **{f"{alice_row}-role": "viewer", f"{bob_row}-DELETE": "on"})
    assert response.status_code == 302, response.context and response.context["inline_admin_formsets"][0].formset.errors
    assert Membership.objects.for_tenant(acme).get(user=alice).role == "viewer"
    assert not Membership.all_tenants.filter(user=bob).exists()
