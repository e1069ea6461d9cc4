"""Settings of the test OpenID provider's own Django project (never perfmon's).

Everything comes from the environment the fixture (or serve.py) sets:
PROVIDER_ISSUER, PROVIDER_KEY_FILE (the RS256 signing key, PEM),
PROVIDER_REALM_FILE, PROVIDER_DB (an SQLite file in a temporary directory)
and PROVIDER_EXTRA_JWKS_FILE (public keys published besides the signing key).
"""

import json
import os
from pathlib import Path
from urllib.parse import urlparse

SECRET_KEY = "oidc-test-provider-only"  # noqa: S105 - a throwaway test server
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
ISSUER = os.environ["PROVIDER_ISSUER"]
REALM_FILE = os.environ["PROVIDER_REALM_FILE"]
EXTRA_JWKS_FILE = os.environ.get("PROVIDER_EXTRA_JWKS_FILE", "")
SIGNING_KEY_PEM = Path(os.environ["PROVIDER_KEY_FILE"]).read_text()

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "oauth2_provider",
]
# Tables straight from the models (no migration files to replay): the provider starts in about a second.
MIGRATION_MODULES = {app.rsplit(".", 1)[-1]: None for app in INSTALLED_APPS}
MIDDLEWARE = [
    "tests.oidc_provider.views.CountRequests",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]
ROOT_URLCONF = "tests.oidc_provider.urls"
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ["PROVIDER_DB"],
        # A throwaway database: no fsync per token.
        "OPTIONS": {"init_command": "PRAGMA journal_mode=MEMORY; PRAGMA synchronous=OFF;"},
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TIME_ZONE = "UTC"
TEMPLATES = []
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # test users and client secrets only
AUTHENTICATION_BACKENDS = ["tests.oidc_provider.validator.UsernameOrEmailBackend"]
LOGIN_URL = f"{urlparse(ISSUER).path}/login"
SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"

OAUTH2_PROVIDER = {
    "OIDC_ENABLED": True,
    "OIDC_ISS_ENDPOINT": ISSUER,
    "OIDC_USERINFO_ENDPOINT": f"{ISSUER}/protocol/openid-connect/userinfo",
    "OIDC_RSA_PRIVATE_KEY": SIGNING_KEY_PEM,
    "OAUTH2_VALIDATOR_CLASS": "tests.oidc_provider.validator.RealmValidator",
    "ACCESS_TOKEN_GENERATOR": "tests.oidc_provider.tokens.access_token",
    "REFRESH_TOKEN_GENERATOR": "oauthlib.oauth2.rfc6749.tokens.random_token_generator",
    "SCOPES": {"openid": "OpenID", "email": "Email", "profile": "Profile", "roles": "Realm roles"},
    "DEFAULT_SCOPES": ["openid", "email", "profile", "roles"],
    # Keycloak's accessTokenLifespan (5 minutes unless the realm says otherwise).
    "ACCESS_TOKEN_EXPIRE_SECONDS": int(json.loads(Path(REALM_FILE).read_text()).get("accessTokenLifespan", 300)),
    "PKCE_REQUIRED": False,  # Keycloak's default; perfmon sends PKCE anyway
    "REQUEST_APPROVAL_PROMPT": "auto",
}
LOGGING = {"version": 1, "disable_existing_loggers": True, "root": {"level": "ERROR"}}
