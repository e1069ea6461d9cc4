"""Tenant users sign in to the dashboard through the OpenID provider and see only their tenant."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.factories import make_monitor
from tests.perfmon.api.perfscale.test_browser_login import _login

pytestmark = pytest.mark.django_db


def test_login_page_offers_the_organisation_sign_in(client, oidc):
    html = client.get(reverse("web:login")).content.decode()
    assert 'id="oidc-login"' in html and reverse("oidc_authentication_init") in html


def test_login_page_without_oidc_has_only_the_password_form(client, db):
    html = client.get(reverse("web:login")).content.decode()
    assert 'id="oidc-login"' not in html and 'id="login-form"' in html


def test_oidc_member_lands_on_their_tenants_monitors(client, oidc, acme, globex):
    make_monitor(acme, name="Acme checkout")
    make_monitor(globex, name="Globex search")

    _, done = _login(client, oidc, "max")
    assert done.status_code == 302 and done["Location"] == "/"

    html = client.get("/").content.decode()
    assert "Acme checkout" in html and "Globex search" not in html
    assert "New monitor" in html  # a member may write


def test_oidc_viewer_may_look_but_not_write(client, oidc, acme):
    monitor = make_monitor(acme, name="Acme checkout")
    _login(client, oidc, "vera")

    assert "Acme checkout" in client.get("/").content.decode()
    assert client.post(reverse("web:monitor-run", args=[monitor.pk])).status_code == 403
