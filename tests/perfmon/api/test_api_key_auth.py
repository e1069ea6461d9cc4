"""The /api surface: X-API-Key authentication and the error envelope."""

import pytest

from perfmon.tenants.services import revoke_api_key


def assert_envelope(response, status, code):
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["error"] == code and isinstance(body["message"], str) and body["message"]
    return body


@pytest.mark.django_db
def test_missing_key_is_401_in_the_envelope(api):
    response = api.get("/api/")
    assert_envelope(response, 401, "unauthorized")
    assert response["WWW-Authenticate"] == "X-API-Key"


@pytest.mark.django_db
@pytest.mark.parametrize("key", ["nope", "pmk_aaaaaaaaaa_bbbbbbbb", "Bearer x"])
def test_invalid_key_is_401(api, key):
    body = assert_envelope(api.get("/api/", key=key), 401, "unauthorized")
    assert "API key" in body["message"]


def test_valid_key_reaches_its_tenant(api, acme, acme_key):
    response = api.get("/api/", key=acme_key)
    assert response.status_code == 200
    assert response.json()["tenant"] == "acme"


def test_revoked_key_is_401(api, acme):
    from perfmon.tenants.services import create_api_key

    new = create_api_key(tenant=acme)
    revoke_api_key(tenant=acme, api_key_id=new.api_key.pk)
    assert_envelope(api.get("/api/", key=new.value), 401, "unauthorized")


def test_session_login_does_not_authenticate_the_key_surface(client, alice):
    client.force_login(alice)
    assert_envelope(client.get("/api/"), 401, "unauthorized")


@pytest.mark.django_db
def test_unknown_api_path_is_404_in_the_envelope(api, acme_key):
    assert_envelope(api.get("/api/no-such-thing", key=acme_key), 404, "not_found")


@pytest.mark.django_db
def test_method_not_allowed_is_in_the_envelope(api, acme_key):
    assert_envelope(api.post("/api/", {}, key=acme_key), 405, "method_not_allowed")


@pytest.mark.django_db
def test_unexpected_exception_is_a_500_envelope_not_html(api, acme_key, monkeypatch):
    from perfmon.api.monitor import views

    def boom(self, request):
        raise RuntimeError("kaput")

    monkeypatch.setattr(views.ApiRoot, "get", boom)
    body = assert_envelope(api.get("/api/", key=acme_key), 500, "internal_error")
    assert "kaput" not in body["message"]


@pytest.mark.django_db
def test_schema_and_docs_are_served(client):
    assert client.get("/api/schema/").status_code == 200
    docs = client.get("/api/docs/")
    assert docs.status_code == 200 and b"swagger" in docs.content.lower()


@pytest.mark.django_db
@pytest.mark.parametrize("page", ["/api/docs/", "/swagger-ui/", "/api/v1/docs/"])
def test_interactive_docs_load_nothing_from_a_cdn(client, page):
    import re

    body = client.get(page).content.decode()
    assets = re.findall(r'(?:src|href)="([^"]+)"', body)
    assert any(asset.endswith("swagger-ui-bundle.js") for asset in assets)
    assert [asset for asset in assets if asset.startswith(("http:", "https:", "//"))] == []
    bundle = next(asset for asset in assets if asset.endswith("swagger-ui-bundle.js"))
    assert client.get(bundle).status_code == 200
