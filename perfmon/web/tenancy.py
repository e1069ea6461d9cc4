"""Who is looking at the dashboard, and at which tenant.

A tenant user (a local account with a Membership, or an OIDC user whose
Membership mirrors their token) sees their own tenant only. Staff operators
may look at any tenant: the one they picked with the switcher, else their own
membership's, else the oldest active tenant that has monitors (else the
oldest one). Whatever was chosen is kept in the session, so creating another
tenant never moves an operator's dashboard under their feet.
Every view receives the tenant from here and passes it to the selectors and
services, which scope every query with ``for_tenant``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from django.contrib.auth.views import redirect_to_login
from django.db.models import Exists, OuterRef
from django.http import Http404
from django.shortcuts import render
from django.urls import reverse

from perfmon.core.errors import NotFound, PermissionDenied
from perfmon.core.ids import as_uuid
from perfmon.monitors.models import Monitor
from perfmon.tenants.models import Membership, Role, Tenant

SESSION_KEY = "perfmon_tenant_id"
WRITE_ROLES = frozenset({Role.MEMBER, Role.ADMIN})


@dataclass(frozen=True)
class Viewer:
    """The signed-in person and the tenant they are looking at."""

    user: object
    tenant: Tenant
    role: str
    is_operator: bool

    @property
    def can_write(self) -> bool:
        return self.is_operator or self.role in WRITE_ROLES

    @property
    def actor(self) -> str:
        return f"web:{self.user.get_username()}"


def _membership(user) -> Membership | None:
    try:
        return user.membership
    except Membership.DoesNotExist:
        return None


def default_operator_tenant() -> Tenant | None:
    """The tenant an operator lands on before choosing one: the oldest active tenant with monitors.

    Not the first by name: a tenant created later (often empty, and often
    named "Acme …") would otherwise take over the dashboard. Deliberately
    unscoped: operators look across tenants.
    """
    has_monitors = Exists(Monitor.all_tenants.filter(tenant_id=OuterRef("pk")))
    return (
        Tenant.objects.filter(is_active=True)
        .annotate(has_monitors=has_monitors)
        .order_by("-has_monitors", "created_at", "name")
        .first()
    )


def _operator_tenant(request, membership) -> Tenant | None:
    chosen = request.session.get(SESSION_KEY)
    chosen_pk = as_uuid(chosen) if chosen else None
    tenant = Tenant.objects.filter(pk=chosen_pk, is_active=True).first() if chosen_pk else None
    if tenant is None and membership is not None and membership.tenant.is_active:
        tenant = membership.tenant
    if tenant is None:
        tenant = default_operator_tenant()
    if tenant is not None and chosen != str(tenant.pk):
        request.session[SESSION_KEY] = str(tenant.pk)
    return tenant


def resolve_viewer(request) -> Viewer | None:
    """The viewer of ``request`` (signed in), or None when they belong to no active tenant."""
    user = request.user
    membership = _membership(user)
    if user.is_staff:
        tenant = _operator_tenant(request, membership)
        if tenant is None:
            return None
        return Viewer(user=user, tenant=tenant, role=Role.ADMIN, is_operator=True)
    if membership is None or not membership.tenant.is_active:
        return None
    return Viewer(user=user, tenant=membership.tenant, role=membership.role, is_operator=False)


def tenant_view(*, write: bool = False):
    """Decorate a view ``f(request, viewer, ...)``: signed in, with a tenant, allowed to write if ``write``.

    The domain's NotFound becomes the friendly 404 page and PermissionDenied
    a 403, so a mistyped or foreign id never turns into a 500.
    """

    def decorate(view):
        @functools.wraps(view)
        def wrapper(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path(), reverse("web:login"))
            viewer = resolve_viewer(request)
            if viewer is None:
                return render(request, "web/no_tenant.html", status=403)
            if write and not viewer.can_write:
                return forbidden(request, "Your role lets you look, not change things.")
            request.viewer = viewer
            try:
                return view(request, viewer, *args, **kwargs)
            except NotFound as exc:
                raise Http404(exc.message) from None
            except PermissionDenied as exc:
                return forbidden(request, exc.message)

        return wrapper

    return decorate


def forbidden(request, message: str):
    return render(request, "403.html", {"message": message}, status=403)
