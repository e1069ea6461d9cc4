"""The dashboard's pages through the Django test client: what each shows, to whom, and the writes."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from perfmon.alerts.models import AlertState
from perfmon.monitors.models import Monitor
from perfmon.runs.models import Run, RunStatus
from tests.factories import make_agent, make_monitor
from tests.web.helpers import add_logs, add_series, make_run, open_alert

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
    assert "latencyMs breached" in html and 'id="apdex"' in html and "0.95" in html


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
    assert "Login" in first and 'id="tenant-switcher"' in first  # Acme comes first by name
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
