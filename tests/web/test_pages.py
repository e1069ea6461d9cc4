"""The dashboard's pages through the Django test client: what each shows, to whom, and the writes."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from perfmon.alerts.models import AlertState
from perfmon.monitors.models import Monitor
from perfmon.runs.models import Run, RunStatus
from tests.factories import make_agent, make_monitor
from tests.web.helpers import add_logs, add_series, make_run, make_split_run, open_alert

pytestmark = pytest.mark.django_db


@pytest.fixture
def as_alice(client, alice):
    client.force_login(alice)
    return client


@pytest.fixture
def login_monitor(acme):
    return make_monitor(acme, name="Login", thresholds={"latencyMs": 500, "errorRatePercent": 5})


def test_pages_require_sign_in(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response.url.startswith(reverse("web:login"))


def test_login_form_signs_in_and_lands_on_monitors(client, alice):
    response = client.post(reverse("web:login"), {"username": "alice", "password": "alice-pw"}, follow=True)
    assert response.status_code == 200
    assert response.resolver_match.url_name == "monitors"


def test_monitors_list_shows_schedule_in_words_status_sparkline_and_alert_badge(as_alice, login_monitor, acme):
    for minutes, p95 in ((30, 120.0), (20, 180.0), (10, 240.0)):
        make_run(login_monitor, minutes_ago=minutes, p95=p95)
    Monitor.all_tenants.filter(pk=login_monitor.pk).update(last_status="fail")
    open_alert(login_monitor)
    make_monitor(acme, name="Checkout", schedule="0 * * * *")

    html = as_alice.get("/").content.decode()

    assert "Login" in html and "Checkout" in html
    assert "Every minute" in html and "Every hour" in html  # cron-descriptor words
    assert 'class="badge status-fail"' in html
    assert "<polyline" in html and "240 ms" in html  # sparkline of p95, ending at the last run's value
    assert "1 open" in html


def test_sparkline_is_oldest_to_newest(as_alice, login_monitor):
    make_run(login_monitor, minutes_ago=30, p95=100.0)
    make_run(login_monitor, minutes_ago=10, p95=900.0)
    html = as_alice.get("/").content.decode()
    points = html.split('points="')[1].split('"')[0].split()
    (x0, y0), (x1, y1) = (map(float, p.split(",")) for p in points)
    assert x0 < x1 and y1 < y0  # the newer, slower run is drawn right and higher


def test_tenant_sees_only_its_own_monitors(client, mallory, login_monitor):
    client.force_login(mallory)
    assert "Login" not in client.get("/").content.decode()
    assert client.get(reverse("web:monitor", args=[login_monitor.pk])).status_code == 404


def test_foreign_run_alert_and_agent_are_not_found(client, mallory, login_monitor, acme):
    run = make_run(login_monitor)
    alert = open_alert(login_monitor, run=run)
    make_agent("acme-only", tenant=acme)
    client.force_login(mallory)
    assert client.get(reverse("web:run", args=[run.pk])).status_code == 404
    assert client.get(reverse("web:run-live", args=[run.pk])).status_code == 404
    assert client.get(reverse("web:run-log", args=[run.pk])).status_code == 404
    assert client.get(reverse("web:agent", args=["acme-only"])).status_code == 404
    assert client.post(reverse("web:alert-acknowledge", args=[alert.pk]), {"note": "x"}).status_code == 404
    alert.refresh_from_db()
    assert alert.state == AlertState.OPEN


def test_malformed_ids_are_a_friendly_404_not_a_500(as_alice):
    for url in ("/monitors/not-a-uuid/", "/runs/123/", "/runs/x/live.json", "/agents/nope/", "/no/such/page"):
        response = as_alice.get(url)
        assert response.status_code == 404, url
        assert "Nothing here" in response.content.decode()


def test_create_monitor_with_uploaded_script(as_alice, acme):
    script = SimpleUploadedFile("login.js", b"import http from 'k6/http';\nexport default function () {}\n")
    response = as_alice.post(reverse("web:monitor-create"), {
        "name": "Login", "tool": "k6", "script_file": script, "schedule": "*/5 * * * *", "timezone": "Europe/Berlin",
        "enabled": "on", "latency_ms": "800", "latency_percentile": "99", "error_rate_percent": "2",
        "apdex_min": "0.8", "apdex_t_ms": "300", "parameters": "BASE_URL=https://acme.test\nUSERS = 5",
    })
    monitor = Monitor.objects.for_tenant(acme).select_related("test").get()
    assert response.status_code == 302 and response.url == reverse("web:monitor", args=[monitor.pk])
    assert monitor.test.script_filename == "login.js" and "k6/http" in monitor.test.script
    assert monitor.thresholds == {"latencyMs": 800.0, "latencyPercentile": 99, "errorRatePercent": 2.0,
                                  "apdexMin": 0.8}
    assert monitor.apdex_t_ms == 300 and monitor.timezone == "Europe/Berlin"
    assert monitor.parameters == {"BASE_URL": "https://acme.test", "USERS": "5"}
    assert monitor.next_run_at is not None


def test_create_monitor_shows_the_services_errors_on_the_form(as_alice, acme):
    response = as_alice.post(reverse("web:monitor-create"), {
        "name": "Bad", "tool": "k6", "script_text": "export default function () {}", "schedule": "61 * * * *",
        "timezone": "UTC", "latency_percentile": "95", "apdex_t_ms": "500",
    })
    assert response.status_code == 200
    assert response.context["form"].errors["schedule"]
    assert not Monitor.objects.for_tenant(acme).exists()


def test_create_monitor_needs_a_script(as_alice):
    response = as_alice.post(reverse("web:monitor-create"), {
        "name": "No script", "tool": "k6", "schedule": "* * * * *", "timezone": "UTC", "latency_percentile": "95",
        "apdex_t_ms": "500",
    })
    assert "Upload a script or paste one." in response.content.decode()


def test_edit_monitor_keeps_script_when_none_given(as_alice, login_monitor):
    original = login_monitor.test.script
    response = as_alice.post(reverse("web:monitor-edit", args=[login_monitor.pk]), {
        "name": "Login v2", "tool": "k6", "schedule": "0 */2 * * *", "timezone": "UTC", "latency_percentile": "95",
        "apdex_t_ms": "500", "latency_ms": "1500",
    })
    assert response.status_code == 302
    login_monitor.refresh_from_db()
    login_monitor.test.refresh_from_db()
    assert login_monitor.name == "Login v2" and login_monitor.test.script == original
    assert login_monitor.enabled is False  # the unchecked box
    assert login_monitor.next_run_at is None
    assert login_monitor.thresholds == {"latencyMs": 1500.0, "latencyPercentile": 95}


def test_editing_in_the_dashboard_keeps_thresholds_of_request_names(as_alice, login_monitor):
    per_request = {"login": {"latencyMs": 300, "errorRatePercent": 1}}
    Monitor.all_tenants.filter(pk=login_monitor.pk).update(thresholds={"latencyMs": 500, "requests": per_request})
    response = as_alice.post(reverse("web:monitor-edit", args=[login_monitor.pk]), {
        "name": "Login", "tool": "k6", "schedule": "* * * * *", "timezone": "UTC", "latency_percentile": "95",
        "apdex_t_ms": "500", "latency_ms": "800",
    })
    assert response.status_code == 302
    login_monitor.refresh_from_db()
    assert login_monitor.thresholds == {"latencyMs": 800.0, "latencyPercentile": 95, "requests": per_request}


def test_edit_form_is_prefilled(as_alice, login_monitor):
    html = as_alice.get(reverse("web:monitor-edit", args=[login_monitor.pk])).content.decode()
    assert 'value="Login"' in html and 'value="* * * * *"' in html
    assert 'name="latency_ms" value="500"' in html and 'name="error_rate_percent" value="5"' in html


def test_delete_monitor_keeps_runs(as_alice, login_monitor, acme):
    run = make_run(login_monitor)
    response = as_alice.post(reverse("web:monitor-delete", args=[login_monitor.pk]))
    assert response.status_code == 302
    assert not Monitor.objects.for_tenant(acme).exists()
    assert Run.objects.for_tenant(acme).filter(pk=run.pk).exists()


def test_run_now_dispatches_to_an_agent(as_alice, login_monitor, acme):
    make_agent("acme-k6", tenant=acme, tools=("k6",))
    response = as_alice.post(reverse("web:monitor-run", args=[login_monitor.pk]))
    run = Run.objects.for_tenant(acme).get()
    assert response.status_code == 302 and response.url == reverse("web:run", args=[run.pk])
    assert run.status == RunStatus.QUEUED and run.agent_id == "acme-k6" and run.trigger == "manual"


def test_run_now_twice_says_a_run_is_active(as_alice, login_monitor, acme):
    make_agent("acme-k6", tenant=acme, tools=("k6",))
    as_alice.post(reverse("web:monitor-run", args=[login_monitor.pk]))
    response = as_alice.post(reverse("web:monitor-run", args=[login_monitor.pk]), follow=True)
    assert "already has a queued or running run" in response.content.decode()
    assert Run.objects.for_tenant(acme).count() == 1


def test_run_now_without_agent_shows_why(as_alice, login_monitor):
    response = as_alice.post(reverse("web:monitor-run", args=[login_monitor.pk]), follow=True)
    assert "no agent available" in response.content.decode()


def test_viewer_role_cannot_write(client, acme, login_monitor):
    from tests.conftest import _person

    client.force_login(_person(acme, "victor", "viewer"))
    assert client.get("/").status_code == 200
    assert "New monitor" not in client.get("/").content.decode()
    assert client.post(reverse("web:monitor-run", args=[login_monitor.pk])).status_code == 403
    assert client.get(reverse("web:monitor-create")).status_code == 403


def test_monitor_detail_has_trend_data_with_thresholds_and_runs(as_alice, login_monitor):
    make_run(login_monitor, minutes_ago=20, p95=300.0)
    make_run(login_monitor, minutes_ago=10, p95=600.0, status="fail")
    make_run(login_monitor, minutes_ago=5, status="error")
    response = as_alice.get(reverse("web:monitor", args=[login_monitor.pk]))
    trend = response.context["trend"]
    assert [point["p95"] for point in trend] == [300.0, 600.0]  # judged runs only, oldest first
    assert trend[0]["error_pct"] == 1.0
    assert response.context["threshold_lines"] == {
        "latency": [{"label": "threshold p95", "value": 500}], "errors": [{"label": "threshold", "value": 5}]}
    assert len(response.context["page"].object_list) == 3
    assert 'id="trend-data"' in response.content.decode()


def test_run_page_compares_with_previous_run_and_baseline(as_alice, login_monitor):
    for minutes, p95 in ((50, 100.0), (40, 200.0), (30, 300.0)):
        make_run(login_monitor, minutes_ago=minutes, p95=p95)
    make_run(login_monitor, minutes_ago=20, p95=800.0, status="fail")  # previous, not in the baseline
    run = make_run(login_monitor, minutes_ago=1, p95=400.0, status="fail")
    Run.all_tenants.filter(pk=run.pk).update(breaches=[{"metric": "latencyMs", "threshold": 350, "actual": 400.0}])

    response = as_alice.get(reverse("web:run", args=[run.pk]))
    html = response.content.decode()
    rows = {row["key"]: row for row in response.context["comparison"]}
    assert rows["p95_ms"]["previous"]["value"] == 800.0 and rows["p95_ms"]["previous"]["verdict"] == "better"
    assert rows["p95_ms"]["baseline"]["value"] == 200.0 and rows["p95_ms"]["baseline"]["verdict"] == "worse"
    assert response.context["baseline_runs"] == 3
    assert "p95 latency 400 ms &gt; threshold 350 ms" in html and 'id="apdex"' in html and "0.95" in html


def test_live_feed_returns_only_what_is_new(as_alice, login_monitor):
    run = make_run(login_monitor, status="running")
    add_series(run, 3)
    add_logs(run, ["line 0\n", "line 1\n"])
    url = reverse("web:run-live", args=[run.pk])

    first = as_alice.get(url).json()
    assert first["status"] == "running" and first["final"] is False
    assert [p["seq"] for p in first["series"]] == [0, 1, 2] and [c["seq"] for c in first["logs"]] == [0, 1]

    add_series(run, 2, start_seq=3)
    add_logs(run, ["line 2\n"], start_seq=2)
    news = as_alice.get(url, {"series_after": 2, "log_after": 1}).json()
    assert [p["seq"] for p in news["series"]] == [3, 4]
    assert news["logs"] == [{"seq": 2, "text": "line 2\n"}]
    assert news["series"][0]["p95"] == 93.0 and news["series"][0]["error_pct"] == 0.0


def test_log_download_streams_the_whole_log_in_order(as_alice, login_monitor):
    run = make_run(login_monitor)
    add_logs(run, [f"line {i}\n" for i in range(120)])
    response = as_alice.get(reverse("web:run-log", args=[run.pk]))
    assert response["Content-Disposition"].startswith("attachment")
    text = b"".join(response.streaming_content).decode()
    assert text.splitlines() == [f"line {i}" for i in range(120)]


def test_cancel_queued_run(as_alice, login_monitor, acme):
    make_agent("acme-k6", tenant=acme)
    as_alice.post(reverse("web:monitor-run", args=[login_monitor.pk]))
    run = Run.objects.for_tenant(acme).get()
    as_alice.post(reverse("web:run-cancel", args=[run.pk]))
    run.refresh_from_db()
    assert run.status == RunStatus.CANCELLED


def test_acknowledge_alert_with_note(as_alice, login_monitor, alice):
    alert = open_alert(login_monitor)
    response = as_alice.post(reverse("web:alert-acknowledge", args=[alert.pk]), {"note": "looking into it"},
                             follow=True)
    alert.refresh_from_db()
    assert alert.state == AlertState.ACKNOWLEDGED and alert.note == "looking into it"
    assert alert.acknowledged_by == alice and alert.acknowledged_by_label == "alice"
    assert "acknowledged" in response.content.decode()
    html = as_alice.get(reverse("web:alerts"), {"state": "acknowledged"}).content.decode()
    assert "looking into it" in html


def test_alert_tabs_filter_by_state(as_alice, login_monitor):
    open_alert(login_monitor, title="Still open")
    resolved = open_alert(make_monitor(login_monitor.tenant, name="Other"), title="Long gone")
    resolved.state = AlertState.RESOLVED
    resolved.save()
    assert "Still open" in as_alice.get(reverse("web:alerts")).content.decode()
    assert "Long gone" not in as_alice.get(reverse("web:alerts")).content.decode()
    assert "Long gone" in as_alice.get(reverse("web:alerts"), {"state": "resolved"}).content.decode()


def test_agents_page_shows_status_tools_and_running_runs(as_alice, login_monitor, acme):
    make_agent("acme-k6", tenant=acme, location="eu-west", tools=("k6", "locust"))
    make_agent("shared-1", tenant=None, online=False)
    as_alice.post(reverse("web:monitor-run", args=[login_monitor.pk]))
    html = as_alice.get(reverse("web:agents")).content.decode()
    assert "acme-k6" in html and "eu-west" in html and "locust" in html and "shared-1" in html
    assert 'status-online' in html and 'status-offline' in html
    assert "Login" in html  # the queued run on acme-k6


def test_a_running_split_run_is_listed_under_each_of_its_agents(as_alice, login_monitor, acme):
    run = make_split_run(login_monitor, status="running")
    make_agent("idle-1", tenant=acme)

    agents = {agent.pk: agent for agent in as_alice.get(reverse("web:agents")).context["agents"]}
    detail = as_alice.get(reverse("web:agent", args=["us-1"])).context["running"]

    assert [r.pk for r in agents["eu-1"].active_runs] == [r.pk for r in agents["us-1"].active_runs] == [run.pk]
    assert agents["idle-1"].active_runs == [] and [r.pk for r in detail] == [run.pk]


def test_agent_page_has_host_metric_samples(as_alice, acme):
    from django.utils import timezone

    from perfmon.fleet.models import AgentMetricSample

    agent = make_agent("acme-k6", tenant=acme)
    for i in range(3):
        AgentMetricSample.all_tenants.create(agent=agent, recorded_at=timezone.now(), cpu_percent=10.0 * i,
                                             memory_percent=50.0, load1=0.5, running_runs=i)
    response = as_alice.get(reverse("web:agent", args=["acme-k6"]))
    assert [s["cpu"] for s in response.context["samples"]] == [0.0, 10.0, 20.0]


def test_staff_switches_tenant(client, acme, globex, login_monitor):
    from django.contrib.auth import get_user_model

    operator = get_user_model().objects.create_user("ops", password="ops-pw", is_staff=True)
    make_monitor(globex, name="Globex homepage")
    client.force_login(operator)
    first = client.get("/").content.decode()
    assert "Login" in first and 'id="tenant-switcher"' in first  # both have monitors: Acme is the older
    client.post(reverse("web:switch-tenant"), {"tenant": str(globex.pk)})
    html = client.get("/").content.decode()
    assert "Globex homepage" in html and "Login" not in html


def test_non_staff_cannot_switch_tenant(client, alice, globex):
    client.force_login(alice)
    client.post(reverse("web:switch-tenant"), {"tenant": str(globex.pk)})
    assert 'id="tenant-switcher"' not in client.get("/").content.decode()
    assert client.get("/").context["request"].viewer.tenant.slug == "acme"


def test_user_without_tenant_gets_a_friendly_page(client, db):
    from django.contrib.auth import get_user_model

    client.force_login(get_user_model().objects.create_user("drifter", password="x"))
    response = client.get("/")
    assert response.status_code == 403
    assert "not to a tenant" in response.content.decode()


def test_admin_index_shows_counts(client, login_monitor, acme):
    from django.contrib.auth import get_user_model

    make_run(login_monitor, status="fail")
    open_alert(login_monitor)
    make_agent("acme-k6", tenant=acme)
    admin = get_user_model().objects.create_superuser("root", password="root-pw")
    client.force_login(admin)
    response = client.get("/admin/")
    html = response.content.decode()
    assert 'id="perfmon-dashboard"' in html
    assert "1 fail" in html and "open alerts" in html and "1 / 1" in html


def test_monitors_list_links_a_running_run(as_alice, login_monitor):
    run = make_run(login_monitor, status="running")
    html = as_alice.get("/").content.decode()
    assert f'href="{reverse("web:run", args=[run.pk])}" class="active-run"' in html


def test_live_feed_says_when_the_run_started(as_alice, login_monitor):
    from django.utils import timezone

    run = make_run(login_monitor, status="running")
    Run.all_tenants.filter(pk=run.pk).update(started_at=timezone.now())
    assert as_alice.get(reverse("web:run-live", args=[run.pk])).json()["started_at"]


def test_admin_monitor_page_lists_only_the_latest_runs_and_links_the_rest(client, login_monitor):
    from django.contrib.auth import get_user_model

    from tests.web.helpers import bulk_runs

    bulk_runs(login_monitor, 60)
    client.force_login(get_user_model().objects.create_superuser("root", password="root-pw"))
    page = client.get(reverse("admin:monitors_monitor_change", args=[login_monitor.pk]))
    (inline,) = page.context["inline_admin_formsets"]
    assert len(inline.formset.forms) == 20
    assert f"?monitor__id__exact={login_monitor.pk}" in page.content.decode()
    runs = client.get(reverse("admin:runs_run_changelist"), {"monitor__id__exact": str(login_monitor.pk)})
    assert runs.status_code == 200 and "60 runs" in runs.content.decode()


# An operator's tenant: stable, and never a newer empty one.


def _operator(username="ops"):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.create_superuser(username, password=f"{username}-pw")


def _age(tenant, *, days: int):
    from datetime import timedelta

    from django.utils import timezone

    from perfmon.tenants.models import Tenant

    Tenant.objects.filter(pk=tenant.pk).update(created_at=timezone.now() - timedelta(days=days))


def test_operator_lands_on_the_tenant_with_monitors_not_a_newer_empty_one(client, db):
    from perfmon.tenants.services import create_tenant
    from perfmon.web.tenancy import SESSION_KEY

    demo = create_tenant(name="Demo")
    _age(demo, days=2)
    make_monitor(demo, name="Homepage")
    create_tenant(name="Acme Corp")  # sorts first by name, and has nothing
    client.force_login(_operator())

    html = client.get("/").content.decode()

    assert "Homepage" in html
    assert client.session[SESSION_KEY] == str(demo.pk)  # kept: the next tenant created will not move it


def test_operator_keeps_the_tenant_the_session_started_with(client, db):
    from perfmon.tenants.services import create_tenant

    demo = create_tenant(name="Demo")
    _age(demo, days=2)
    acme = create_tenant(name="Acme Corp")
    client.force_login(_operator())
    assert client.get("/").context["request"].viewer.tenant == demo  # neither has monitors: the oldest

    make_monitor(acme, name="Acme checkout")  # now only the newer tenant has monitors
    assert client.get("/").context["request"].viewer.tenant == demo

    client.post(reverse("web:switch-tenant"), {"tenant": str(acme.pk)})
    assert "Acme checkout" in client.get("/").content.decode()
    assert "Acme checkout" in client.get("/").content.decode()  # the explicit choice stays too


def test_operator_with_a_membership_starts_on_its_tenant(client, acme, globex):
    from perfmon.tenants.models import Membership

    _age(acme, days=2)
    make_monitor(acme, name="Acme homepage")
    operator = _operator()
    Membership.all_tenants.create(tenant=globex, user=operator, role="admin")
    client.force_login(operator)
    assert client.get("/").context["request"].viewer.tenant == globex


def test_operator_whose_tenant_was_deactivated_falls_back(client, acme, globex):
    from perfmon.tenants.models import Tenant

    make_monitor(globex, name="Globex homepage")
    client.force_login(_operator())
    client.post(reverse("web:switch-tenant"), {"tenant": str(acme.pk)})
    Tenant.objects.filter(pk=acme.pk).update(is_active=False)
    html = client.get("/").content.decode()
    assert "Globex homepage" in html


# A finished run without data says why instead of drawing empty charts.


def test_errored_run_without_data_shows_why_instead_of_charts(as_alice, login_monitor):
    run = make_run(login_monitor, status="error")
    Run.all_tenants.filter(pk=run.pk).update(error="the tool failed (exit code 107)")
    html = as_alice.get(reverse("web:run", args=[run.pk])).content.decode()
    assert 'id="no-data"' in html and "No data:</strong> the tool failed (exit code 107)" in html
    assert 'id="chart-latency"' not in html


def test_run_with_data_or_still_running_has_charts(as_alice, login_monitor):
    finished = make_run(login_monitor)
    add_series(finished, 3)
    running = make_run(login_monitor, status="running")  # no interval yet, but they will come
    for run in (finished, running):
        html = as_alice.get(reverse("web:run", args=[run.pk])).content.decode()
        assert 'id="chart-latency"' in html and 'id="no-data"' not in html


def test_judged_run_without_intervals_points_to_the_summary(as_alice, login_monitor):
    run = make_run(login_monitor)
    html = as_alice.get(reverse("web:run", args=[run.pk])).content.decode()
    assert 'id="no-data"' in html and "the summary above covers the whole run" in html


# Breaches in words, the same on every page.


BREACHES = [
    {"metric": "latencyMs", "threshold": 1.0, "actual": 9.1349},
    {"metric": "errorRatePercent", "threshold": 5.0, "actual": 12.5},
    {"metric": "apdexMin", "threshold": 0.9, "actual": 0.8125},
]
BREACHES_IN_WORDS = [
    "p99 latency 9.13 ms &gt; threshold 1 ms",
    "error rate 12.5 % &gt; threshold 5 %",
    "Apdex 0.81 &lt; minimum 0.9",
]


def _failed_run(monitor):
    run = make_run(monitor, status="fail")
    Run.all_tenants.filter(pk=run.pk).update(
        breaches=BREACHES,
        thresholds={"latencyMs": 1, "latencyPercentile": 99, "errorRatePercent": 5, "apdexMin": 0.9},
    )
    return run


def test_breaches_read_with_unit_and_percentile_on_run_and_monitor_pages(as_alice, login_monitor):
    run = _failed_run(login_monitor)
    for url in (reverse("web:run", args=[run.pk]), reverse("web:monitor", args=[login_monitor.pk])):
        html = as_alice.get(url).content.decode()
        for words in BREACHES_IN_WORDS:
            assert words in html, (url, words)
        assert "latencyMs" not in html.split('id="trend-data"')[0]


def test_admin_run_page_shows_breaches_in_words(client, login_monitor):
    run = _failed_run(login_monitor)
    client.force_login(_operator("root"))
    html = client.get(reverse("admin:runs_run_change", args=[run.pk])).content.decode()
    for words in BREACHES_IN_WORDS:
        assert words in html


# The script: visible on the monitor page, prefilled in the edit form, kept when untouched.


SCRIPT = "import http from 'k6/http';\n// </pre><script>alert(1)</script>\nexport default function () {\n  http.get(`${__ENV.TARGET_URL}/?a=1&b=2`);\n}\n\n"


def _script_monitor(tenant):
    monitor = make_monitor(tenant, name="Scripted", thresholds={"latencyMs": 500})
    monitor.test.script = SCRIPT
    monitor.test.save(update_fields=["script"])
    return monitor


def _textarea(html: str, name: str) -> str:
    import html as html_lib
    import re

    raw = re.search(rf'<textarea name="{name}"[^>]*>(.*?)</textarea>', html, re.S).group(1)
    # HTML drops one newline right after <textarea>; Django writes one there.
    return html_lib.unescape(raw[1:] if raw.startswith("\n") else raw)


def test_monitor_page_shows_the_script_escaped(as_alice, acme):
    monitor = _script_monitor(acme)
    html = as_alice.get(reverse("web:monitor", args=[monitor.pk])).content.decode()
    assert '<pre class="script" id="monitor-script">' in html
    assert "// &lt;/pre&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>alert(1)" not in html
    assert "?a=1&amp;b=2" in html


def test_edit_form_is_prefilled_with_the_script_and_saving_it_untouched_keeps_it(as_alice, acme):
    monitor = _script_monitor(acme)
    url = reverse("web:monitor-edit", args=[monitor.pk])
    prefilled = _textarea(as_alice.get(url).content.decode(), "script_text")
    assert prefilled == SCRIPT

    # What a browser sends back: the textarea's line breaks as CRLF.
    response = as_alice.post(url, {
        "name": "Scripted", "tool": "k6", "schedule": "* * * * *", "timezone": "UTC", "enabled": "on",
        "latency_ms": "400", "latency_percentile": "95", "apdex_t_ms": "500",
        "script_text": prefilled.replace("\n", "\r\n"),
    })

    assert response.status_code == 302
    monitor.test.refresh_from_db()
    monitor.refresh_from_db()
    assert monitor.test.script == SCRIPT  # byte for byte: no CR, the trailing blank line kept
    assert monitor.thresholds["latencyMs"] == 400.0


def test_edit_form_saves_a_changed_script(as_alice, acme):
    monitor = _script_monitor(acme)
    changed = SCRIPT.replace("a=1", "a=2")
    response = as_alice.post(reverse("web:monitor-edit", args=[monitor.pk]), {
        "name": "Scripted", "tool": "k6", "schedule": "* * * * *", "timezone": "UTC", "enabled": "on",
        "latency_percentile": "95", "apdex_t_ms": "500", "script_text": changed.replace("\n", "\r\n"),
    })
    assert response.status_code == 302
    monitor.test.refresh_from_db()
    assert monitor.test.script == changed


@pytest.mark.parametrize(("tool", "language"), [
    ("k6", "javascript"), ("locust", "python"), ("jmeter", "xml"), ("artillery", "yaml"), ("gatling", "scala"),
    ("custom", "bash"),
])
def test_monitor_page_names_the_tools_language_for_the_highlighter(as_alice, acme, tool, language):
    monitor = make_monitor(acme, name=f"{tool} monitor", tool=tool)
    html = as_alice.get(reverse("web:monitor", args=[monitor.pk])).content.decode()
    assert f'<pre class="script" id="monitor-script"><code data-language="{language}">' in html
    assert "perfmon/web/script-view.js" in html and "perfmon/vendor/highlightjs/github.min.css" in html


def test_a_script_too_long_to_highlight_is_shown_plain(as_alice, acme):
    from perfmon.web.views.monitors import HIGHLIGHT_MAX_CHARS

    monitor = _script_monitor(acme)
    monitor.test.script = "// x\n" * (HIGHLIGHT_MAX_CHARS // 5 + 1)
    monitor.test.save(update_fields=["script"])
    html = as_alice.get(reverse("web:monitor", args=[monitor.pk])).content.decode()
    assert '<code data-language="">' in html and 'id="script-plain"' in html
    assert html.count("// x\n") == HIGHLIGHT_MAX_CHARS // 5 + 1
