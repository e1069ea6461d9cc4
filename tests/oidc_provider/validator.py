"""DOT's validator with the realm's rules: per-client grants, Keycloak's claims, login by email."""

from __future__ import annotations

import functools

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from oauth2_provider.oauth2_validators import OAuth2Validator

from tests.oidc_provider.realm import Realm


@functools.cache
def realm() -> Realm:
    return Realm.from_file(settings.REALM_FILE)


class UsernameOrEmailBackend(ModelBackend):
    """Keycloak's loginWithEmailAllowed: the username field takes the email too."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        user = realm().user_by_login(username or "")
        if user is None or not user.enabled:
            return None
        return super().authenticate(request, username=user.username, password=password, **kwargs)


class RealmValidator(OAuth2Validator):
    # Every claim goes into the ID token and userinfo whatever the scopes, as with Keycloak's defaults.
    oidc_claim_scope = None

    def validate_grant_type(self, client_id, grant_type, client, request, *args, **kwargs):
        settings_of = realm().clients.get(client.client_id)
        if settings_of is None:
            return False
        allowed = {
            "password": settings_of.direct_access,
            "authorization_code": settings_of.standard_flow,
            "refresh_token": True,
        }
        return allowed.get(grant_type, False)

    def validate_response_type(self, client_id, response_type, client, request, *args, **kwargs):
        settings_of = realm().clients.get(client.client_id)
        return response_type == "code" and settings_of is not None and settings_of.standard_flow

    def get_claim_dict(self, request):
        user = realm().user_by_login(request.user.get_username())
        client = realm().clients[request.client.client_id]
        return realm().claims(user, client, token="id")

    def get_userinfo_claims(self, request):
        user = realm().user_by_login(request.user.get_username())
        client = realm().clients[request.client.client_id]
        return realm().claims(user, client, token="userinfo")

    def get_discovery_claims(self, request):
        return ["sub", "email", "email_verified", "name", "given_name", "family_name", "preferred_username"]


def load_realm_into_database() -> None:
    """Users and clients of the realm as Django users and DOT applications."""
    from oauth2_provider.models import get_application_model

    Application = get_application_model()
    User = get_user_model()
    for user in realm().users.values():
        account = User(username=user.username, email=user.email, first_name=user.first_name,
                       last_name=user.last_name, is_active=user.enabled)
        account.set_password(user.password)
        account.save()
    for client in realm().clients.values():
        Application.objects.create(
            client_id=client.client_id,
            client_secret=client.secret,
            client_type=Application.CLIENT_PUBLIC if client.public else Application.CLIENT_CONFIDENTIAL,
            authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
            redirect_uris=" ".join(uri for uri in client.redirect_uris if "*" not in uri),
            algorithm=Application.RS256_ALGORITHM,
            skip_authorization=True,
            name=client.client_id,
        )
