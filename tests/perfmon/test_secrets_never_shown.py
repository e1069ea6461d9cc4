"""Secrets are shown once, when they are made, and never again: not in logs, error messages, the admin,
the dashboard or any API answer.

One scenario over real HTTP against a live server: an API key is made and used (and a wrong and a
revoked one refused), an agent is created, enrolls (its credential is answered once), heartbeats and is
refused wrong credentials, a license key is installed (and bad ones refused), a webhook channel with
a signing secret is set up in the admin and notified of a run failing its thresholds as reported through
the agent API, and then every /api and /api/v1 list and detail, every admin list and change page and the
dashboard's pages are read back. Every log record of every logger at DEBUG (the live server's thread
included) and everything written to stdout and stderr during the scenario are kept, and none of them, no
error message and no answer but the one that created a secret holds any secret, its random part or the
digest stored for it."""

from __future__ import annotations

import hashlib
import hmac
import io
import logging
import re
import sys
import uuid
from dataclasses import dataclass, field

import pytest
import requests
from django.contrib import admin
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from perfmon.alerts.delivery import attempt_delivery
from perfmon.alerts.models import Alert, DeliveryAttempt, DeliveryStatus, Notification, NotificationChannel
from perfmon.alerts.notify import send_test_notification
from perfmon.fleet.models import Agent
from perfmon.tenants.models import ApiKey, License, Membership
from runners.protocol import agent_queue
from tests.broker import purge
from tests.perfmon.api.agent.test_agent_api import a_result
from tests.perfmon.api.monitor.conftest import license_for, monitor_json, vendor  # noqa: F401 - fixtures
from tests.receiver import Receiver

AGENT = "/agent-api/v1"
# Loggers whose records must be kept too; `perfmon`, `celery` and the rest reach the root's handler.
LOGGERS = ("", "django", "django.request", "django.server", "django.security", "django.template", "perfmon",
           "celery", "kombu", "amqp", "redis", "urllib3", "requests")
CANARY = "canary-" + uuid.uuid4().hex


class Kept(logging.Handler):
    """Keeps every record with what any handler could write of it."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.texts: list[str] = []
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        # The formatted line (traceback included), the raw message and arguments, and every extra attribute.
        parts = [self.format(record), str(record.msg), repr(record.args)]
        parts += [repr(value) for value in vars(record).values()]
        self.texts.append("\n".join(parts))


@pytest.fixture
def kept_logs(capfd):
    """Every record of every logger at DEBUG, while the test runs; the levels are put back after."""
    handler = Kept()
    loggers = [logging.getLogger(name) for name in LOGGERS]
    # Loggers that do not propagate to the root (django.server, ...) get the handler themselves.
    loggers += [logger for logger in logging.root.manager.loggerDict.values()
                if isinstance(logger, logging.Logger) and not logger.propagate]
    before = [(logger, logger.level) for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
        if logger is logging.root or not logger.propagate:
            logger.addHandler(handler)
    # The SQL of django.db.backends stays out: it is logged with DEBUG=True only, never in production.
    logging.getLogger("django.db.backends").setLevel(logging.WARNING)
    # The settings' console handler writes to this test's stderr (capfd), in its own format.
    consoles = [(console, console.setStream(sys.stderr)) for console in logging.root.handlers
                if type(console) is logging.StreamHandler]
    yield handler
    for console, stream in consoles:
        console.stream = stream  # not setStream: it would flush the capture, closed by now
    for logger, level in before:
        logger.setLevel(level)
        logger.removeHandler(handler)


@dataclass
class Exchange:
    method: str
    url: str
    status: int
    text: str
    creates: tuple[str, ...] = ()  # the secrets this answer hands out (the one answer allowed to hold them)


@dataclass
class Http:
    """A requests session against the live server that keeps every answer."""

    base: str
    session: requests.Session = field(default_factory=requests.Session)
    exchanges: list[Exchange] = field(default_factory=list)

    def call(self, method: str, path: str, *, creates=(), **kwargs) -> requests.Response:
        kwargs.setdefault("timeout", 60)
        kwargs.setdefault("allow_redirects", False)
        response = self.session.request(method, self.base + path, **kwargs)
        headers = "\n".join(f"{name}: {value}" for name, value in response.headers.items())
        self.exchanges.append(Exchange(method, path, response.status_code, f"{headers}\n\n{response.text}",
                                       tuple(creates)))
        return response

    def get(self, path, **kwargs):
        return self.call("GET", path, **kwargs)

    def post(self, path, **kwargs):
        return self.call("POST", path, **kwargs)

    def signed_in(self, user) -> Http:
        """This session signed in as ``user`` (a Django session, as the login form would leave)."""
        client = Client()
        client.force_login(user)
        self.session.cookies.set("sessionid", client.cookies["sessionid"].value)
        return self

    def form_post(self, path, data, **kwargs):
        """POST a form the way a browser does: with the CSRF token of the page it was read from."""
        page = self.get(path)
        assert page.status_code == 200, (path, page.status_code)
        token = self.session.cookies.get("csrftoken") or re.search(
            r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
        return self.post(path, data={"csrfmiddlewaretoken": token, **data},
                         headers={"Referer": self.base + path}, **kwargs)


def command(command_name, *args, **options) -> tuple[str, str]:
    """Run a management command; its (stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    call_command(command_name, *args, stdout=out, stderr=err, **options)
    return out.getvalue(), err.getvalue()


def forms_of(value: str) -> list[str]:
    """A secret and the forms it may leak in: its random part and the SHA-256 stored for it."""
    forms = [value, hashlib.sha256(value.encode()).hexdigest()]
    prefix, _, rest = value.partition("_")
    if prefix in ("pmk", "pma", "pme"):
        forms.append(rest.partition("_")[2])  # the secret part after the public lookup
    if value.startswith("PMLIC1."):
        forms += value.split(".")[1:]  # its payload and signature
    return forms


def leaks(text: str, secrets: dict[str, list[str]]) -> list[str]:
    return [name for name, forms in secrets.items() if any(form in text for form in forms)]


@pytest.fixture
def receiver():
    server = Receiver(fail_first=1).start()  # the first delivery fails: its error is recorded and shown
    yield server
    server.stop()


@pytest.fixture
def clean_queue():
    purge(agent_queue("acme-1"))
    yield
    purge(agent_queue("acme-1"))


@pytest.mark.django_db(transaction=True)
def test_no_secret_appears_in_logs_errors_admin_dashboard_or_api_answers_after_it_was_made(
        live_server, acme, globex, oidc, license_for, receiver, clean_queue, kept_logs, capfd,  # noqa: F811
        django_user_model):
    http = Http(live_server.url)
    outputs: list[str] = []  # what commands wrote besides the secret they print
    secrets: dict[str, str] = {}

    # --- an API key, used; a wrong and a revoked one refused --------------------------------------
    out, err = command("create_api_key", "acme", name="ci")
    secrets["api key"] = out.strip().splitlines()[-1]
    outputs += [err, out.replace(secrets["api key"], "")]
    out, err = command("create_api_key", "acme", name="old")
    secrets["revoked api key"] = out.strip().splitlines()[-1]
    outputs += [err, out.replace(secrets["revoked api key"], "")]
    key = {"X-API-Key": secrets["api key"]}
    assert http.get("/api/monitors", headers=key).status_code == 200
    lookup = secrets["api key"].split("_")[1]
    assert http.get("/api/monitors", headers={"X-API-Key": f"pmk_{lookup}_not-the-secret"}).status_code == 401

    ops = Http(live_server.url).signed_in(django_user_model.objects.create_superuser("ops", "ops@acme.test", "ops-pw"))
    ops.exchanges = http.exchanges
    old = ApiKey.all_tenants.get(name="old")
    revoked = ops.form_post(reverse("admin:tenants_apikey_changelist"),
                            {"action": "revoke", "_selected_action": [str(old.pk)]})
    assert revoked.status_code == 302
    assert http.get("/api/monitors", headers={"X-API-Key": secrets["revoked api key"]}).status_code == 401

    # --- an agent: created, enrolled once, heartbeating; wrong credentials refused --------------
    out, err = command("create_agent", "acme-1", location="eu", tenant="acme")
    secrets["enrollment token"] = out.strip().splitlines()[-1]
    outputs += [err, out.replace(secrets["enrollment token"], "")]
    facts = {"tools": {"k6": "1.1.0"}, "capacity": 2, "hostname": "runner-1"}
    enrolled = http.post(f"{AGENT}/enroll", json={"token": secrets["enrollment token"], **facts})
    assert enrolled.status_code == 201, enrolled.text
    secrets["agent credential"] = enrolled.json()["credential"]
    http.exchanges[-1].creates = ("agent credential",)
    agent = {"Authorization": f"Bearer {secrets['agent credential']}"}
    assert http.post(f"{AGENT}/heartbeat", json={"tools": {"k6": "1.1.0"}}, headers=agent).status_code == 200
    again = http.post(f"{AGENT}/enroll", json={"token": secrets["enrollment token"], **facts})
    assert again.status_code == 401, again.text
    lookup = secrets["agent credential"].split("_")[1]
    for wrong in (f"pma_{lookup}_not-the-secret", secrets["enrollment token"], secrets["api key"]):
        refused = http.post(f"{AGENT}/heartbeat", json={}, headers={"Authorization": f"Bearer {wrong}"})
        assert refused.status_code == 401, refused.text
    assert http.get("/api/monitors", headers=agent).status_code == 401
    assert http.get("/api/monitors", headers={"X-API-Key": secrets["agent credential"]}).status_code == 401

    # --- a license key installed; keys for another tenant or altered refused ---------------------
    secrets["license key"] = license_for("acme", tier="enterprise", monitor_limit=200)
    secrets["license key of another tenant"] = license_for("globex")
    body, signature = secrets["license key"].split(".")[1:]
    secrets["altered license key"] = f"PMLIC1.{body}.{signature[:-4]}AAAA"
    for bad in ("license key of another tenant", "altered license key"):
        refused = http.post("/api/settings/license", json={"licenseKey": secrets[bad]}, headers=key)
        assert refused.status_code == 400, refused.text
    installed = http.post("/api/settings/license", json={"licenseKey": secrets["license key"]}, headers=key)
    assert installed.status_code == 200 and installed.json()["tier"] == "enterprise", installed.text
    assert License.all_tenants.get(tenant=acme).token == secrets["license key"]

    # --- a webhook channel with a signing secret, notified of a failing run ----------------------
    secrets["channel secret"] = "whsec-" + uuid.uuid4().hex
    added = ops.form_post(reverse("admin:alerts_notificationchannel_add"), {
        "tenant": str(acme.pk), "name": "ops hook", "kind": "webhook", "url": receiver.url,
        "secret": secrets["channel secret"], "email_to": "", "enabled": "on"})
    assert added.status_code == 302, added.text[:2000]
    channel = NotificationChannel.objects.for_tenant(acme).get()
    assert channel.secret == secrets["channel secret"]

    made = http.post("/api/monitors", json=monitor_json(thresholds={"latencyMs": 100}), headers=key)
    assert made.status_code == 201, made.text
    monitor_id = made.json()["id"]
    started = http.post(f"/api/monitors/{monitor_id}/run", headers=key)
    assert started.status_code == 202, started.text
    run_id = started.json()["runId"]
    claim_id = str(uuid.uuid4())
    assert http.post(f"{AGENT}/runs/{run_id}/claim", json={"claim_id": claim_id}, headers=agent).status_code == 200
    result = a_result([50] * 8 + [400, 400])
    streamed = http.post(f"{AGENT}/runs/{run_id}/series",
                         json={"points": [{**result["series"][0], "seq": 0}]}, headers=agent)
    assert streamed.status_code == 200, streamed.text
    logged = http.post(f"{AGENT}/runs/{run_id}/logs", json={"chunks": [{"seq": 0, "text": "running\n"}]},
                       headers=agent)
    assert logged.status_code == 200, logged.text
    judged = http.post(f"{AGENT}/runs/{run_id}/result", headers=agent, json={
        "claim_id": claim_id, "outcome": "completed", "exit_code": 0, "result": result})
    assert judged.json() == {"status": "fail"}, judged.text
    [notification] = Notification.objects.for_tenant(acme)
    for _ in range(5):  # what the Celery task does per attempt; the receiver fails the first
        if Notification.all_tenants.get(pk=notification.pk).status != DeliveryStatus.PENDING:
            break
        attempt_delivery(notification.pk)
    assert Notification.all_tenants.get(pk=notification.pk).status == DeliveryStatus.DELIVERED
    assert receiver.answers == [500, 200]
    delivered = receiver.succeeded()[0]
    expected = "sha256=" + hmac.new(secrets["channel secret"].encode(), delivered.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(delivered.headers["X-Perfmon-Signature"], expected)
    assert delivered.json()["event"] == "alert.opened"
    received = [f"{r.headers}\n{r.body.decode()}" for r in receiver.requests]

    # --- everything read back --------------------------------------------------------------------
    alert = Alert.objects.for_tenant(acme).get()
    reads = ["/api/", "/api/monitors", f"/api/monitors/{monitor_id}", f"/api/monitors/{monitor_id}/runs",
             "/api/runs", f"/api/runs/{run_id}", f"/api/runs/{run_id}/parts", f"/api/runs/{run_id}/logs",
             f"/api/runs/{run_id}/series", f"/api/runs/{run_id}/requests", f"/api/runs/{run_id}/errors",
             f"/api/runs/{run_id}/checks", f"/api/runs/{run_id}/histogram", f"/api/runs/compare?runIds={run_id}",
             "/api/alerts", "/api/agents", "/api/agents/acme-1/metrics", "/api/settings/license", "/api/schema/"]
    for path in reads:
        answer = http.get(path, headers=key)
        assert answer.status_code in (200, 400), (path, answer.status_code, answer.text[:500])
    assert http.post(f"/api/alerts/{alert.pk}/acknowledge", json={}, headers=key).status_code == 200

    secrets["access token"] = oidc.token("ada")  # handed out by the provider, never by perfmon
    bearer = {"Authorization": f"Bearer {secrets['access token']}"}
    assert http.get("/api/v1/auth/me", headers=bearer).status_code == 200
    for wrong in (secrets["api key"], secrets["agent credential"], secrets["access token"][:-8] + "AAAAAAAA"):
        assert http.get("/api/v1/machines", headers={"Authorization": f"Bearer {wrong}"}).status_code == 401
    made = http.post("/api/v1/tests", json={"name": "checkout", "tool": "k6", "script": "x"}, headers=bearer)
    assert made.status_code == 201, made.text
    tasks = http.get("/api/v1/tasks", headers=bearer).json()
    for path in ("/api/v1/machines", "/api/v1/machines/acme-1", "/api/v1/tests", f"/api/v1/tests/{made.json()['id']}",
                 *(f"/api/v1/tasks/{task['id']}" for task in tasks)):
        answer = http.get(path, headers=bearer)
        assert answer.status_code == 200, (path, answer.status_code, answer.text[:500])

    for model in admin.site._registry:
        opts = model._meta
        assert ops.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")).status_code == 200, opts.label
        for pk in model._default_manager.values_list("pk", flat=True)[:10]:
            page = ops.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[pk]))
            assert page.status_code == 200, (opts.label, pk)
    for page in (reverse("admin:index"), reverse("admin:alerts_notificationchannel_add"),
                 reverse("admin:alerts_notificationchannel_history", args=[channel.pk])):
        assert ops.get(page).status_code == 200, page

    alice = django_user_model.objects.create_user("alice", password="alice-pw")
    Membership.objects.create(tenant=acme, user=alice, role="admin")
    board = Http(live_server.url).signed_in(alice)
    board.exchanges = http.exchanges
    for name, args in [("web:monitors", []), ("web:monitor", [monitor_id]), ("web:runs", []), ("web:run", [run_id]),
                       ("web:run-log", [run_id]), ("web:run-live", [run_id]), ("web:alerts", []),
                       ("web:agents", []), ("web:agent", ["acme-1"])]:
        assert board.get(reverse(name, args=args)).status_code == 200, name

    # --- nothing holds a secret but the answer that made it ----------------------------------------
    forms = {name: forms_of(value) for name, value in secrets.items()}
    # What is logged is found: in the records kept and on stderr, where the settings' console handler writes.
    logging.getLogger("perfmon.secrets_test").warning("a record that must be found: %s", CANARY)
    captured = capfd.readouterr()
    assert leaks(kept_logs.texts[-1], {"canary": [CANARY]}) == ["canary"], "the log handler keeps nothing"
    assert CANARY in captured.err, "the console handler's output is not captured"
    # The live server's thread logs here too: its refusals of the wrong credentials are among the records.
    assert [r for r in kept_logs.records if r.name == "django.request" and r.levelno == logging.WARNING]

    found = []
    for record, text in zip(kept_logs.records, kept_logs.texts, strict=True):
        found += [(f"log record {record.name}: {record.getMessage()[:200]}", name) for name in leaks(text, forms)]
    for exchange in http.exchanges:
        shown = {name: value for name, value in forms.items() if name not in exchange.creates}
        found += [(f"{exchange.method} {exchange.url} ({exchange.status})", name) for name in leaks(exchange.text, shown)]
    for where, text in [("stdout", captured.out), ("stderr", captured.err), *(("command output", o) for o in outputs),
                        *(("webhook request", r) for r in received)]:
        found += [(where, name) for name in leaks(text, forms)]
    for last_error in Notification.all_tenants.values_list("last_error", flat=True):
        found += [("notification error", name) for name in leaks(last_error, forms)]
    assert not found, found

    # API keys and agent tokens are stored as their digests only: no table holds one in clear.
    stored = io.StringIO()
    call_command("dumpdata", stdout=stored)
    clear = {name: [secrets[name]] for name in ("api key", "revoked api key", "enrollment token", "agent credential")}
    assert leaks(stored.getvalue(), clear) == []
    assert Agent.all_tenants.get(pk="acme-1").credential_hash in stored.getvalue()
    assert len(http.exchanges) > 60 and len(kept_logs.records) > 50, (len(http.exchanges), len(kept_logs.records))


def test_a_failed_delivery_names_the_host_never_the_url_that_holds_the_channels_secret(acme, kept_logs, capfd,
                                                                                      settings):
    # A Slack incoming webhook's URL is its secret; a webhook's may carry a token in its query.
    settings.PERFMON_NOTIFY_MAX_ATTEMPTS = 2
    secret = "slack-" + uuid.uuid4().hex
    urls = {"slack": f"http://127.0.0.1:9/services/T0/B0/{secret}", "webhook": f"http://127.0.0.1:9/hook?token={secret}"}
    for kind, url in urls.items():
        send_test_notification(NotificationChannel.objects.create(tenant=acme, name=kind, kind=kind, url=url))
    for notification in Notification.objects.for_tenant(acme):
        for _ in range(2):
            attempt_delivery(notification.pk)
    failed = Notification.objects.for_tenant(acme).filter(status=DeliveryStatus.FAILED)
    assert failed.count() == 2
    errors = [*failed.values_list("last_error", flat=True),
              *DeliveryAttempt.objects.for_tenant(acme).values_list("error", flat=True)]
    assert len(errors) == 6 and all("ConnectionError" in error and "/…" in error for error in errors), errors
    assert [r for r in kept_logs.records if r.name == "perfmon.alerts.delivery" and "failed for good" in r.getMessage()]
    shown = [*errors, *kept_logs.texts, capfd.readouterr().err]
    assert not [text for text in shown if secret in text]
