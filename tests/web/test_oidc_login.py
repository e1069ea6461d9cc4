"""Tenant users sign in to the dashboard through the real Keycloak and see only their tenant.

The Chromium test is the whole authorization code flow as a person goes through it: the
dashboard's login page, Keycloak's own login page, the code back to perfmon's callback,
the monitors of the user's tenant. The others drive the same flow with the Django test
client and Keycloak's login form over HTTP.
"""

from __future__ import annotations

import os
import re

import pytest
from django.urls import reverse

from perfmon.accounts.models import OidcIdentity
from perfmon.tenants.models import Membership
from tests.conftest import require
from tests.factories import make_monitor
from tests.perfmon.api.perfscale.test_browser_login import _login
from tests.web.browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    ConsoleWatch,
    chromium_available,
    playwright_available,
    screenshot,
)

pytestmark = pytest.mark.django_db

HOME = re.compile(r"^http://[^/]+/$")  # the monitors list, whatever the live server's port


def test_login_page_offers_the_organisation_sign_in(client, keycloak_oidc):
    html = client.get(reverse("web:login")).content.decode()
    assert 'id="oidc-login"' in html and reverse("oidc_authentication_init") in html


def test_login_page_without_oidc_has_only_the_password_form(client, db):
    html = client.get(reverse("web:login")).content.decode()
    assert 'id="oidc-login"' not in html and 'id="login-form"' in html


def test_oidc_member_lands_on_their_tenants_monitors(client, keycloak_oidc, acme, globex):
    make_monitor(acme, name="Acme checkout")
    make_monitor(globex, name="Globex search")

    _, done = _login(client, keycloak_oidc, "max")
    assert done.status_code == 302 and done["Location"] == "/"

    html = client.get("/").content.decode()
    assert "Acme checkout" in html and "Globex search" not in html
    assert "New monitor" in html  # a member may write


def test_oidc_viewer_may_look_but_not_write(client, keycloak_oidc, acme):
    monitor = make_monitor(acme, name="Acme checkout")
    _login(client, keycloak_oidc, "vera")

    assert "Acme checkout" in client.get("/").content.decode()
    assert client.post(reverse("web:monitor-run", args=[monitor.pk])).status_code == 403


# --- in Chromium, through Keycloak's own login page --------------------------------------------


@pytest.fixture(scope="module")
def chromium():
    require(playwright_available(), "the playwright Python package")
    require(chromium_available(), f"Chromium at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the test's ORM calls between
    # browser steps are plain synchronous ones, so Django's async guard is relaxed here only.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield launched
        launched.close()
    if previous is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.mark.integration
@pytest.mark.timeout(180)
def test_member_signs_in_at_keycloaks_login_page_in_chromium_and_sees_their_tenant(
    chromium, live_server, keycloak_oidc, acme, globex
):
    keycloak = keycloak_oidc
    make_monitor(acme, name="Acme checkout")
    make_monitor(globex, name="Globex search")
    context = chromium.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(30_000)
    page = context.new_page()
    console = ConsoleWatch(page)
    try:
        page.goto("/login/")
        page.click("#oidc-login")

        # Keycloak's own page, on Keycloak's origin, for the perfscale realm.
        page.wait_for_selector("#kc-form-login")
        assert page.url.startswith(f"{keycloak.issuer}/")
        assert "Sign in to perfscale" in page.title()
        screenshot(page, "oidc-keycloak-login")
        page.fill("#username", "max@example.test")
        page.fill("#password", "max-pw")
        page.click("#kc-login")

        page.wait_for_url(HOME)
        assert page.url == f"{live_server.url}/"
        body = page.inner_text("body")
        assert "Acme checkout" in body and "Globex search" not in body
        screenshot(page, "oidc-keycloak-signed-in")
    finally:
        context.close()

    identity = OidcIdentity.objects.select_related("user").get(sub=keycloak.realm.users["max"].id)
    assert identity.issuer == keycloak.issuer
    membership = Membership.all_tenants.get(user=identity.user)
    assert (membership.tenant, membership.role) == (acme, "member")
    ours = [error for error in console.errors if live_server.url in error]
    assert ours == [], "the dashboard's pages logged errors:\n" + "\n".join(ours)


@pytest.mark.integration
@pytest.mark.timeout(180)
def test_wrong_password_at_keycloak_never_reaches_the_dashboard(chromium, live_server, keycloak_oidc, acme):
    context = chromium.new_context(base_url=live_server.url)
    context.set_default_timeout(30_000)
    page = context.new_page()
    try:
        page.goto("/login/")
        page.click("#oidc-login")
        page.wait_for_selector("#kc-form-login")
        page.fill("#username", "max@example.test")
        page.fill("#password", "not-max-pw")
        page.click("#kc-login")

        page.wait_for_selector("text=Invalid username or password")  # Keycloak's page, shown again
        assert page.url.startswith(f"{keycloak_oidc.issuer}/")
        assert page.is_visible("#kc-form-login")
    finally:
        context.close()
    assert not OidcIdentity.objects.exists()
