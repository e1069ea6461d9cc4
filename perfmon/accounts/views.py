"""Browser login through the OpenID provider (mozilla-django-oidc's views, endpoints discovered)."""

from __future__ import annotations

from django.http import HttpResponse
from django.views.generic import View
from mozilla_django_oidc.views import OIDCAuthenticationRequestView

from perfmon.accounts.provider import NotConfigured, ProviderUnavailable, provider_for, require_config


class OidcLoginView(OIDCAuthenticationRequestView):
    """Redirects to the provider's authorization endpoint (state, nonce and PKCE kept in the session)."""

    def __init__(self, *args, **kwargs) -> None:
        # The parent reads the endpoint from settings here; it is discovered per request instead.
        View.__init__(self, *args, **kwargs)

    def get(self, request):
        try:
            config = require_config()
            self.OIDC_OP_AUTH_ENDPOINT = provider_for(config).endpoints().authorization
            self.OIDC_RP_CLIENT_ID = config.client_id
        except NotConfigured as exc:
            return HttpResponse(f"{exc}\n", status=503, content_type="text/plain")
        except ProviderUnavailable as exc:
            return HttpResponse(f"Sign-in is unavailable: {exc}\n", status=503, content_type="text/plain")
        return super().get(request)
