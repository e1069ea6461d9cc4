"""Keycloak's URL layout under /realms/<realm> (the realm named in PROVIDER_ISSUER)."""

from urllib.parse import urlparse

from django.conf import settings
from django.urls import include, path, re_path
from oauth2_provider import views as dot

from tests.oidc_provider import views

REALM_PATH = urlparse(settings.ISSUER).path.strip("/")  # realms/perfscale

# DOT's discovery view reverses these names in its own namespace.
oidc = (
    [
        re_path(r"^\.well-known/openid-configuration$", dot.ConnectDiscoveryInfoView.as_view(),
                name="oidc-connect-discovery-info"),
        path("protocol/openid-connect/auth", dot.AuthorizationView.as_view(), name="authorize"),
        path("protocol/openid-connect/token", dot.TokenView.as_view(), name="token"),
        path("protocol/openid-connect/certs", views.Jwks.as_view(), name="jwks-info"),
        path("protocol/openid-connect/userinfo", dot.UserInfoView.as_view(), name="user-info"),
        path("protocol/openid-connect/logout", dot.RPInitiatedLogoutView.as_view(), name="rp-initiated-logout"),
    ],
    "oauth2_provider",
)

urlpatterns = [
    path(f"{REALM_PATH}/", include(oidc)),
    path(f"{REALM_PATH}/login", views.login_form, name="login"),
    path("_test/stats", views.stats),
]
