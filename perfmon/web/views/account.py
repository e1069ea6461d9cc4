"""Signing in and out, and the operators' tenant switcher."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from perfmon.core.ids import as_uuid
from perfmon.tenants.models import Tenant
from perfmon.web.tenancy import SESSION_KEY


class LoginView(auth_views.LoginView):
    template_name = "registration/login.html"
    redirect_authenticated_user = True

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        # Tenant users sign in at the OpenID provider; the button shows only when it is configured.
        context["oidc_enabled"] = bool(getattr(settings, "OIDC_ISSUER", ""))
        return context


@require_POST
def switch_tenant(request):
    """Operators (staff) look at another tenant; everyone else keeps their own."""
    if request.user.is_authenticated and request.user.is_staff:
        pk = as_uuid(request.POST.get("tenant"))
        tenant = Tenant.objects.filter(pk=pk, is_active=True).first() if pk else None
        if tenant is not None:
            request.session[SESSION_KEY] = str(tenant.pk)
    return redirect("web:monitors")

