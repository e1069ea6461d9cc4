"""The real Keycloak for the test suite: one instance per test session, started by scripts/keycloak.sh.

The instance imports the compose realm export (client ``perfscale-site``,
realm roles, the ``tenant`` mapper, the user profile, the demo user) plus the
test users of plugin.py, with two changes made for the tests only: redirect
URIs for the Django test client (``http://testserver``) and for a live server
on any loopback port, and the realm's RSA signing key, which this fixture
generates and imports (the realm's ``privateKey``). Keycloak signs every token
with that key and publishes it in its JWKS, so the tests mint the cases no
honest provider issues (expired, another issuer, another key, ``alg=none``, …)
from the claims of a token Keycloak itself issued, checked by perfmon against
Keycloak's own JWKS.

What Keycloak cannot be made to do on demand (count the JWKS requests perfmon
makes, publish an extra key mid-test) is left to the django-oauth-toolkit
provider of fixture.py; docs/auth.md lists those cases.
"""

from __future__ import annotations

import copy
import html
import json
import os
import re
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin

import jwt
import requests
from cryptography.hazmat.primitives.asymmetric import rsa
from jwcrypto import jwk

from tests.oidc_provider.fixture import CLIENT_ID, REPO, kid_of, new_rsa_key, pem_of
from tests.oidc_provider.realm import Realm, resolve_placeholders

SCRIPT = REPO / "scripts" / "keycloak.sh"
CLIENT_SECRET = "test-client-secret"
# The realm's redirect URIs in the tests: the Django test client, and live servers on any port.
TEST_REDIRECT_URIS = ["http://testserver/oidc/callback/", "http://localhost:*", "http://127.0.0.1:*"]
# A start is about 30 s on two idle cores; the first after an install also builds Keycloak's dev mode.
START_TIMEOUT_S = 300


def keycloak_version() -> str:
    return re.search(r"^KEYCLOAK_VERSION=(\S+)", SCRIPT.read_text(), re.M).group(1)


def keycloak_home() -> Path:
    tools = Path(os.environ.get("PERFMON_TOOLS_DIR", REPO / "var" / "tools"))
    return tools / f"keycloak-{keycloak_version()}"


def keycloak_installed() -> bool:
    """The pinned version installed by ``scripts/keycloak.sh --install``."""
    marker = keycloak_home() / ".perfmon-installed"
    return marker.is_file() and marker.read_text().strip() == keycloak_version()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def keycloak_realm(base: dict, key: rsa.RSAPrivateKey) -> dict:
    """``base`` (a realm export with the test users) as the tests' Keycloak imports it."""
    realm = resolve_placeholders(copy.deepcopy(base), {"PERFSCALE_CLIENT_SECRET": CLIENT_SECRET,
                                                      "PERFMON_PUBLIC_URL": "http://testserver"})
    realm["privateKey"] = "".join(pem_of(key).strip().splitlines()[1:-1])
    for client in realm["clients"]:
        if client["clientId"] == CLIENT_ID:
            client["redirectUris"] = TEST_REDIRECT_URIS
    default_roles = f"default-roles-{realm['realm']}"
    for user in realm["users"]:
        # The id Realm() gives a user without one, so tests know every sub before Keycloak runs.
        user.setdefault("id", str(uuid.uuid5(uuid.NAMESPACE_URL, f"{realm['realm']}/{user['username'].lower()}")))
        # What Keycloak gives a user created in its console (an import adds only the listed roles).
        if default_roles not in user.get("realmRoles", []):
            user["realmRoles"] = [default_roles, *user.get("realmRoles", [])]
    return realm


@dataclass
class KeycloakTestRealm:
    """A running Keycloak with the test realm, and what the tests need to talk to it or impersonate it."""

    base_realm: dict
    workdir: Path
    key: rsa.RSAPrivateKey = field(default_factory=new_rsa_key)
    port: int = field(default_factory=free_port)
    startup_seconds: float = 0.0
    _tokens: dict = field(default_factory=dict)
    _claims: dict = field(default_factory=dict)
    _kid: str = ""

    def __post_init__(self) -> None:
        self.realm_data = keycloak_realm(self.base_realm, self.key)
        self.realm = Realm(self.realm_data)

    # --- lifecycle --------------------------------------------------------------
    def _script(self, *args: str, timeout: float) -> subprocess.CompletedProcess:
        env = {**os.environ, "KEYCLOAK_START_TIMEOUT": str(START_TIMEOUT_S)}
        return subprocess.run(
            ["bash", str(SCRIPT), "--dir", str(self.workdir / "instance"), "--port", str(self.port), *args],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout, check=False,
        )

    def start(self) -> KeycloakTestRealm:
        self.workdir.mkdir(parents=True, exist_ok=True)
        realm_file = self.workdir / "realm-perfscale.json"
        realm_file.write_text(json.dumps(self.realm_data))
        started = time.monotonic()
        done = self._script("--realm", str(realm_file), "--exit-with", str(os.getpid()),
                            timeout=START_TIMEOUT_S + 60)
        if done.returncode != 0:
            raise RuntimeError(f"scripts/keycloak.sh did not start Keycloak:\n{done.stderr[-4000:]}")
        exports = dict(re.findall(r"^export (\w+)=(.*)$", done.stdout, re.M))
        assert exports["OIDC_ISSUER"] == self.issuer, done.stdout
        assert exports["OIDC_RP_CLIENT_ID"] == CLIENT_ID, done.stdout
        self.startup_seconds = time.monotonic() - started
        self._kid = self._published_kid()
        return self

    def stop(self) -> None:
        self._script("--stop", timeout=60)

    def _published_kid(self) -> str:
        """Keycloak's key id for the imported key (its own, not RFC 7638's thumbprint)."""
        ours = json.loads(jwk.JWK.from_pyca(self.key).export_public())["n"]
        keys = requests.get(f"{self.issuer}/protocol/openid-connect/certs", timeout=10).json()["keys"]
        kids = [k["kid"] for k in keys if k.get("use") == "sig" and k.get("alg") == "RS256" and k.get("n") == ours]
        assert kids, f"Keycloak does not publish the imported signing key: {keys}"
        return kids[0]

    # --- addresses --------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def issuer(self) -> str:
        return f"{self.base_url}/realms/{self.realm.name}"

    @property
    def token_endpoint(self) -> str:
        return f"{self.issuer}/protocol/openid-connect/token"

    @property
    def client_secret(self) -> str:
        return self.realm.clients[CLIENT_ID].secret

    @property
    def kid(self) -> str:
        return self._kid

    def settings(self, **extra) -> dict:
        """perfmon settings pointing at this Keycloak."""
        return {
            "OIDC_ISSUER": self.issuer,
            "OIDC_PROVIDER_URL": "",
            "OIDC_RP_CLIENT_ID": CLIENT_ID,
            "OIDC_RP_CLIENT_SECRET": self.client_secret,
            "OIDC_AUDIENCE": "",
            "OIDC_TENANT_CLAIM": "tenant",
            **extra,
        }

    # --- Keycloak's side ----------------------------------------------------------
    def password_grant(self, username: str, password: str | None = None, **fields) -> requests.Response:
        """POST to Keycloak's token endpoint exactly as the API document's curl does (ROPC grant)."""
        user = self.realm.user_by_login(username)
        data = {
            "grant_type": "password",
            "client_id": CLIENT_ID,
            "client_secret": self.client_secret,
            "username": username,
            "password": password if password is not None else (user.password if user else ""),
            **fields,
        }
        return requests.post(self.token_endpoint, data=data, timeout=30)

    def token(self, username: str) -> str:
        """An access token Keycloak issued to ``username``, reused across tests while it has a minute left
        (a password grant costs a fraction of a second: the suite asks for hundreds)."""
        cached = self._tokens.get(username)
        if cached and cached[1] - time.time() > 60:
            return cached[0]
        response = self.password_grant(username)
        assert response.status_code == 200, response.text
        token = response.json()["access_token"]
        claims = jwt.decode(token, self.key.public_key(), algorithms=["RS256"], options={"verify_aud": False})
        self._tokens[username] = (token, claims["exp"])
        self._claims[username] = claims
        return token

    def sign_in(self, authorize_url: str, username: str, password: str | None = None) -> str:
        """A browser at Keycloak's own login page: open ``authorize_url``, post the login form, and
        return where Keycloak sends the browser back (the client's redirect URI with a code)."""
        browser = requests.Session()
        page = browser.get(authorize_url, timeout=30)
        assert page.status_code == 200, page.text[:2000]
        action = re.search(r'<form[^>]*id="kc-form-login"[^>]*action="([^"]+)"', page.text)
        assert action, f"no login form at {authorize_url}: {page.text[:2000]}"
        # Keycloak marks its cookies Secure; a browser sends them to http://127.0.0.1 (a secure
        # context), Python's cookie jar only over https unless told.
        for cookie in browser.cookies:
            cookie.secure = False
        user = self.realm.user_by_login(username)
        posted = browser.post(
            urljoin(page.url, html.unescape(action.group(1))),
            data={"username": username, "password": password if password is not None else user.password,
                  "credentialId": ""},
            allow_redirects=False, timeout=30,
        )
        feedback = re.findall(r'(?:kc-feedback-text|input-error)[^>]*>\s*([^<]+)', posted.text)
        assert posted.status_code == 302, f"Keycloak refused the login ({posted.status_code}): {feedback}"
        return posted.headers["Location"]

    # --- tokens Keycloak would not issue, minted with its own signing key ---------------
    def claims_for(self, username: str, **overrides) -> dict:
        """The claims of the access token Keycloak issues ``username``, freshly dated, with ``overrides``
        (a value of None removes the claim)."""
        self.token(username)
        claims = dict(self._claims[username])
        lifespan = claims["exp"] - claims["iat"]
        now = int(time.time())
        claims.update(iat=now, exp=now + lifespan, jti=str(uuid.uuid4()))
        for name, value in overrides.items():
            if value is None:
                claims.pop(name, None)
            else:
                claims[name] = value
        return claims

    def mint(self, claims: dict, *, key: rsa.RSAPrivateKey | None = None, kid: str | None = None,
             alg: str = "RS256", headers: dict | None = None) -> str:
        """A token signed with ``key`` (default: Keycloak's own signing key, under Keycloak's kid)."""
        key = key or self.key
        default_kid = self.kid if key is self.key else kid_of(key)
        header = {"kid": kid or default_kid, "typ": "JWT", **(headers or {})}
        return jwt.encode(claims, key, algorithm=alg, headers=header)
