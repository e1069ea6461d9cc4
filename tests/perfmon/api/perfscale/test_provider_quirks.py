"""Providers that are not the test realm: no discovery document (Keycloak's layout assumed),
errors and nonsense from the provider (503, never 500), and browser login while it is down."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.oidc_provider.fixture import public_jwk

pytestmark = pytest.mark.django_db


class Realm:
    """A bare HTTP server answering fixed documents by path (everything else 404)."""

    def __init__(self, routes: dict[str, tuple[int, str]]):
        self.routes = routes
        self.hits: list[str] = []
        realm = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - the stdlib's name
                realm.hits.append(self.path)
                status, body = realm.routes.get(self.path, (404, "not found"))
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body.encode())

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/realms/plain"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def _jwks(oidc) -> str:
    return json.dumps({"keys": [public_jwk(oidc.key, kid=oidc.kid)]})


def test_without_discovery_document_keycloaks_layout_is_used(v1, oidc, acme, settings):
    with Realm({"/realms/plain/protocol/openid-connect/certs": (200, _jwks(oidc))}) as realm:
        settings.OIDC_ISSUER = realm.issuer
        token = oidc.mint(oidc.claims_for("max", iss=realm.issuer))

        response = v1.get("/tests", token=token)

    assert response.status_code == 200
    assert realm.hits == ["/realms/plain/.well-known/openid-configuration", "/realms/plain/protocol/openid-connect/certs"]


@pytest.mark.parametrize(
    "routes",
    [
        {"/realms/plain/protocol/openid-connect/certs": (500, "boom")},
        {"/realms/plain/protocol/openid-connect/certs": (200, "<html>not json</html>")},
        {"/realms/plain/.well-known/openid-configuration": (502, "bad gateway")},
        {"/realms/plain/.well-known/openid-configuration": (200, json.dumps({"issuer": "https://elsewhere"}))},
    ],
)
def test_provider_errors_and_nonsense_are_503(v1, oidc, acme, settings, routes):
    with Realm(routes) as realm:
        settings.OIDC_ISSUER = realm.issuer
        response = v1.get("/tests", token=oidc.mint(oidc.claims_for("max", iss=realm.issuer)))

    assert response.status_code == 503
    assert response.json()["error"] == "service_unavailable"


def test_keys_cached_before_an_outage_keep_working(v1, oidc, acme, settings):
    settings.OIDC_JWKS_CACHE_SECONDS = 0.3
    with Realm({"/realms/plain/protocol/openid-connect/certs": (200, _jwks(oidc))}) as realm:
        settings.OIDC_ISSUER = realm.issuer
        token = oidc.mint(oidc.claims_for("max", iss=realm.issuer))
        assert v1.get("/tests", token=token).status_code == 200
    time.sleep(0.4)  # the cache is stale now; refreshing it fails: the provider is gone

    assert v1.get("/tests", token=token).status_code == 200


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_browser_login_is_503_while_the_provider_is_down(client, oidc, settings):
    settings.OIDC_ISSUER = f"http://127.0.0.1:{_closed_port()}/realms/perfscale"

    response = client.get("/oidc/authenticate/")

    assert response.status_code == 503
    assert b"unreachable" in response.content


def test_callback_while_the_provider_is_down_fails_the_login_not_the_server(client, oidc, settings):
    start = client.get("/oidc/authenticate/")
    state = start["Location"].split("state=")[1].split("&")[0]
    settings.OIDC_ISSUER = f"http://127.0.0.1:{_closed_port()}/realms/perfscale"

    response = client.get(f"/oidc/callback/?code=some-code&state={state}")

    assert response.status_code == 302
    assert response["Location"] == settings.LOGIN_REDIRECT_URL_FAILURE
    assert "_auth_user_id" not in client.session
