"""Tenant isolation matrix over every route of /api (X-API-Key) and /api/v1 (Bearer), read from the URL conf.

The routes are enumerated from Django's resolver, and each method a route's
view implements is a case, so a new endpoint joins the matrix by itself, and
fails it until this file says how to fill it: a path parameter names an object
(``PARAMS``), and a route without one is either a list (``LISTS``) or holds no
tenant's rows (``NO_ROWS``). For every case, tenant B (globex) calls with its
own credential:

* on tenant A's (acme's) objects: 404 in the error envelope, no acme marker in
  the answer, and nothing of acme's changed;
* on a list: none of acme's ids or names, while globex's own rows are listed;
* on a POST/PATCH with ``tenant``/``tenant_id``/``tenantId`` naming acme: the
  field never moves anything into acme (both surfaces refuse unknown fields with
  a 400; an answer that creates lands in globex).

tests/perfmon/api/monitor/test_isolation.py keeps its hand-written cases; this
file is the enumeration.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from perfmon.alerts.models import Alert
from perfmon.definitions.models import TestDefinition
from perfmon.fleet.models import Agent
from perfmon.monitors.models import Monitor
from perfmon.runs.models import Run, RunStatus
from perfmon.tenants.models import License
from tests.factories import make_agent, make_monitor, make_test
from tests.perfmon.api.monitor.conftest import (  # noqa: F401 - fixtures
    assert_envelope,
    b64,
    license_for,
    make_run,
    monitor_json,
    vendor,
)
from tests.perfmon.api.monitor.test_alerts import make_alert
from tests.perfmon.api.monitor.test_isolation import ACME_FIGURES, ACME_REQUESTS, BODIES
from tests.perfmon.api.perfscale.conftest import oidc, tokens  # noqa: F401 - fixtures (the real Keycloak)

pytestmark = pytest.mark.django_db

SURFACES = ("api/v1/", "api/")  # /api/v1 first: every /api/v1 route also starts with api/
METHODS = ("get", "head", "options", "post", "put", "patch", "delete")
ACME_MARK = "acme secret"  # in every name of acme's rows, so a leak shows in any answer


def walk(patterns, prefix=""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from walk(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern), pattern.callback


def view_methods(callback) -> list[str]:
    """The HTTP methods the route's view implements (HEAD with GET, as Django serves it; OPTIONS on every view)."""
    cls = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
    if cls is None:  # a function view: every method reaches it
        return ["get", "post", "patch", "delete"]
    found = [m for m in METHODS if hasattr(cls, m) and m in cls.http_method_names]
    if "get" in found and "head" not in found:
        found.insert(1, "head")
    return found


def api_routes() -> list[str]:
    routes = []
    for route, _ in walk(get_resolver().url_patterns):
        if route.startswith(SURFACES) and route not in routes:
            routes.append(route)
    return routes


CALLBACKS = dict(walk(get_resolver().url_patterns))
CASES = [(route, method) for route in api_routes() for method in view_methods(CALLBACKS[route])]


def params(cases):
    return [pytest.param(route, method, id=f"{method.upper()} /{route}") for route, method in cases]


def surface(route: str) -> str:
    return "v1" if route.startswith("api/v1/") else "api"


# Path parameters: which object of a world fills them.
PARAMS = {
    "monitorId": "monitor", "runId": "run", "alertId": "alert", "agentId": "agent",
    "machine_id": "agent", "test_id": "test", "task_id": "run",
}
# A state-changing call aims at an object it could really change (a finished run cannot be cancelled).
PARAM_OVERRIDES = {
    ("api/runs/<str:runId>/cancel", "post"): {"runId": "active_run"},
    ("api/v1/tasks/<str:task_id>", "delete"): {"task_id": "active_run"},
}
# Routes that name objects in the query (or body) rather than the path.
QUERY_OBJECTS = {
    ("api/runs/compare", "get"): "?ids={run},{other_run}",
    ("api/alerts", "get"): "?monitorId={monitor}",
}
BODY_OBJECTS = {
    ("api/v1/tasks", "post"): lambda world: {"testId": world["test"]},
}


def _ids(body) -> set[str]:
    rows = body["runs"] if isinstance(body, dict) and "runs" in body else body
    return {str(row["id"]) for row in rows}


@dataclass
class ListRoute:
    own: tuple[str, ...]  # world keys of globex's own rows the list must show
    ids: object = _ids
    queries: tuple[str, ...] = ("",)  # narrowing queries (filled with acme's objects) that must not reach them


LISTS = {
    "api/monitors": ListRoute(own=("monitor",), queries=("", "?idPrefix={monitor_prefix}")),
    "api/runs": ListRoute(own=("run", "other_run", "active_run"), queries=("", "?idPrefix={run_prefix}")),
    "api/alerts": ListRoute(own=("alert",)),
    "api/agents": ListRoute(own=("agent",)),
    "api/v1/machines": ListRoute(own=("agent",)),
    "api/v1/tests": ListRoute(own=("test",)),
    "api/v1/tasks": ListRoute(own=("run", "other_run", "active_run")),
}

# Routes with no rows of any tenant's (or only the caller's tenant-wide figures): checked for no acme marker.
NO_ROWS = {
    "api/": "the API root: links",
    "api/schema/": "the OpenAPI document of /api",
    "api/docs/": "Swagger UI of /api",
    "api/v1/docs/": "Swagger UI of /api/v1",
    "api/v1/auth/me": "the caller's own token claims",
    "api/settings/license": "the caller's tenant license and monitor count",
}


def world(tenant, prefix: str) -> dict:
    """One tenant's objects of both surfaces; every name carries ``prefix`` (acme's: ACME_MARK)."""
    agent = make_agent(f"{tenant.slug}-private", tenant=tenant)
    monitor = make_monitor(tenant, name=f"{prefix} monitor")
    run = make_run(tenant, monitor, agent=agent, logs=[f"{prefix} output\n"], metrics=ACME_FIGURES)
    other = make_run(tenant, None, agent=agent, metrics=ACME_FIGURES)
    Run.all_tenants.filter(pk__in=[run.pk, other.pk]).update(
        requests=[{**ACME_REQUESTS[0], "name": f"{prefix} path"}], checks={f"{prefix} check": {"passes": 1, "fails": 0}})
    # Not the monitor's, so the monitor stays free to be run.
    active = make_run(tenant, None, agent=agent, status=RunStatus.RUNNING)
    alert = make_alert(tenant, monitor)
    Alert.all_tenants.filter(pk=alert.pk).update(title=f"{prefix} alert")
    test = make_test(tenant, name=f"{prefix} test")
    return {
        "monitor": str(monitor.pk), "run": str(run.pk), "other_run": str(other.pk), "active_run": str(active.pk),
        "alert": str(alert.pk), "agent": agent.pk, "test": str(test.pk),
        "monitor_prefix": str(monitor.pk)[:8], "run_prefix": str(run.pk)[:8],
    }


# Ids of no one's objects.
MISSING = {key: str(uuid.UUID(int=n + 1)) for n, key in enumerate(("monitor", "run", "other_run", "active_run", "alert",
                                                                 "test"))} | {"agent": "no-such-agent"}


def snapshot(tenant) -> dict:
    """Everything of a tenant's a foreign call could change."""
    return {
        "monitors": sorted(Monitor.all_tenants.filter(tenant=tenant).values_list(
            "id", "name", "enabled", "test__script", "agent_id", "thresholds", "parameters")),
        "runs": sorted(Run.all_tenants.filter(tenant=tenant).values_list(
            "id", "status", "cancel_requested_at", "completed_at")),
        "alerts": sorted(Alert.all_tenants.filter(tenant=tenant).values_list("id", "state", "acknowledged_at")),
        "tests": sorted(TestDefinition.all_tenants.filter(tenant=tenant).values_list(
            "id", "name", "script", "status")),
        "agents": sorted(Agent.all_tenants.filter(tenant=tenant).values_list("id", "name", "drained")),
        "license": sorted(License.all_tenants.filter(tenant=tenant).values_list("license_id", "token")),
    }


@pytest.fixture
def worlds(acme, globex):
    return {"acme": world(acme, ACME_MARK), "globex": world(globex, "globex own")}


@pytest.fixture
def call(client, tokens, acme_key, globex_key):  # noqa: F811 - the imported Keycloak fixture
    """call(tenant, method, url, body): the request with that tenant's credential of the url's surface."""
    keys = {"acme": acme_key, "globex": globex_key}
    users = {"acme": "ada", "globex": "gina"}  # admins: only the tenant scoping can stop them

    def send(tenant: str, method: str, url: str, body=None):
        if url.startswith("/api/v1/"):
            headers = {"Authorization": f"Bearer {tokens(users[tenant])}"}
        else:
            headers = {"X-API-Key": keys[tenant]}
        kwargs = {"data": body, "content_type": "application/json"} if method in ("post", "put", "patch") else {}
        return getattr(client, method)(url, headers=headers, **kwargs)

    return send


def fill(route: str, method: str, objects: dict) -> str:
    """The url of ``route`` naming ``objects``; fails naming the route when a parameter has no object."""
    names = dict(PARAMS, **PARAM_OVERRIDES.get((route, method), {}))

    def one(match):
        if match[1] not in names:
            pytest.fail(f"route /{route} ({method.upper()}) has a path parameter {match[1]!r} this matrix has "
                        f"no object for: add it to PARAMS in {__name__}")
        return str(objects[names[match[1]]])

    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", one, route)


def body_for(route: str, method: str, objects: dict, license_for) -> dict | None:  # noqa: F811
    if (route, method) in BODY_OBJECTS:
        return BODY_OBJECTS[(route, method)](objects)
    known = {
        ("api/monitors", "post"): lambda: monitor_json(name="globex made"),
        ("api/monitors/<str:monitorId>", "patch"): lambda: BODIES[("patch", "/api/monitors/{monitorId}")],
        ("api/alerts/<str:alertId>/acknowledge", "post"): lambda: BODIES[("post", "/api/alerts/{alertId}/acknowledge")],
        ("api/settings/license", "post"): lambda: {"licenseKey": license_for("acme")},
        ("api/v1/machines", "post"): lambda: {"name": "globex made", "hostname": "made.example.com"},
        ("api/v1/tests", "post"): lambda: {"name": "globex made", "tool": "k6", "script": "export default function () {}"},
        ("api/v1/tests/<str:test_id>", "patch"): lambda: {"name": "hijacked", "script": "hijacked"},
    }
    make = known.get((route, method))
    return make() if make else None


def kind(route: str) -> str:
    if "<" in route or any(route == known for known, _ in [*QUERY_OBJECTS, *BODY_OBJECTS]):
        return "object"
    if route in LISTS:
        return "list"
    if route in NO_ROWS:
        return "no_rows"
    pytest.fail(f"route /{route} is not in this matrix: name its objects (PARAMS), or add it to LISTS or NO_ROWS "
                f"in {__name__}")


def test_the_matrix_reaches_both_surfaces():
    routes = api_routes()
    assert any(r.startswith("api/v1/") for r in routes) and any(not r.startswith("api/v1/") for r in routes)
    assert len(CASES) > len(routes), CASES


def assert_no_acme(response, route, method, ids=()):
    """No acme name in the answer (nor, where the request named none of them, any of acme's ids)."""
    for secret in (ACME_MARK, *ids):
        assert secret.encode() not in response.content, (route, method, secret, response.content[:500])


def acme_ids_of(objects: dict) -> list[str]:
    return [str(value) for key, value in objects.items() if not key.endswith("_prefix")]


def test_a_route_the_matrix_cannot_fill_fails_naming_it():
    with pytest.raises(pytest.fail.Exception, match=r"/api/widgets/<str:widgetId>"):
        fill("api/widgets/<str:widgetId>", "get", {})
    with pytest.raises(pytest.fail.Exception, match=r"/api/widgets "):
        kind("api/widgets")


@pytest.mark.parametrize(("route", "method"), params(CASES))
def test_another_tenant_never_reaches_acmes_rows(call, acme, globex, worlds, license_for, route, method):  # noqa: F811
    acme_ids, own = worlds["acme"], worlds["globex"]
    kind(route)
    before = snapshot(acme)
    names_acmes = "<" in route or (route, method) in QUERY_OBJECTS or (route, method) in BODY_OBJECTS
    if names_acmes and method == "options":
        # OPTIONS answers the view's metadata without a lookup: the same for acme's id as for none at all,
        # so it tells nothing of acme's rows (not even that they exist).
        response = call("globex", method, fill(route, method, acme_ids))
        nowhere = call("globex", method, fill(route, method, MISSING))
        assert (response.status_code, response.content) == (nowhere.status_code, nowhere.content), route
        assert_no_acme(response, route, method, acme_ids_of(acme_ids))
    elif names_acmes:
        url = fill(route, method, acme_ids) + QUERY_OBJECTS.get((route, method), "").format(**acme_ids)
        response = call("globex", method, url, body_for(route, method, acme_ids, license_for))
        if method == "head":
            assert response.status_code == 404, (route, response.status_code)
        else:
            assert_envelope(response, 404, "not_found")
        assert_no_acme(response, route, method)
        # The owner reaches the same url: the 404 is the scoping, not a wrong id.
        if method == "get":
            owner = call("acme", method, url)
            assert owner.status_code == 200, (route, owner.content[:300])
    if route in LISTS and method == "get":
        spec = LISTS[route]
        for query in spec.queries:
            response = call("globex", "get", "/" + route + query.format(**acme_ids))
            assert response.status_code == 200, (route, query, response.content[:300])
            listed = spec.ids(response.json())
            assert not listed & {str(v) for v in acme_ids.values()}, (route, query, listed)
            assert_no_acme(response, route, method, acme_ids_of(acme_ids))
            if not query:
                assert {str(own[key]) for key in spec.own} <= listed, (route, listed, own)
    elif not names_acmes:
        # A create on a list route, or a route with no rows: whatever it answers, nothing of acme's shows.
        response = call("globex", method, fill(route, method, own), body_for(route, method, own, license_for))
        assert response.status_code < 500, (route, method, response.content[:300])
        assert_no_acme(response, route, method, acme_ids_of(acme_ids))
        if route == "api/settings/license":
            if method == "get":
                assert response.json()["monitorsUsed"] == 1, response.json()
            elif method == "post":  # acme's license key is refused for globex
                assert_envelope(response, 400)
    assert snapshot(acme) == before, (route, method)


TENANT_FIELDS = ("tenant", "tenant_id", "tenantId")
WRITES = [(r, m) for r, m in CASES if m in ("post", "put", "patch")]


@pytest.mark.parametrize("name", TENANT_FIELDS)
@pytest.mark.parametrize(("route", "method"), params(WRITES))
def test_a_tenant_field_in_the_body_never_moves_anything_into_another_tenant(
        call, acme, globex, worlds, license_for, route, method, name):  # noqa: F811
    own = worlds["globex"]
    kind(route)
    url = fill(route, method, own)
    base = body_for(route, method, own, license_for)
    if route == "api/settings/license":
        base = {"licenseKey": license_for("globex")}
    body = {**(base or {}), name: acme.slug if name == "tenant" else str(acme.pk)}
    before, globex_before = snapshot(acme), snapshot(globex)
    response = call("globex", method, url, body)
    assert response.status_code < 500, (route, response.content[:300])
    assert snapshot(acme) == before, (route, method, name)
    if response.status_code == 400:
        # Refused as an unknown field, and nothing of globex's changed either.
        details = assert_envelope(response, 400).get("details", {})
        assert any("tenant" in key.lower() for key in details), details
        assert snapshot(globex) == globex_before, (route, method, name)
    else:  # taken, with the field ignored: whatever it made or changed is globex's
        assert response.status_code < 300, (route, response.content[:300])
