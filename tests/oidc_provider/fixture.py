"""Start, use and stop the test OpenID provider from the test suite.

The fixture owns the RS256 signing key: the provider signs with it and
publishes it in its JWKS, and the tests mint their own tokens with it (or
with other keys) for the cases no honest provider would issue.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import jwt
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwcrypto import jwk

from tests.oidc_provider.realm import Realm, resolve_placeholders

REPO = Path(__file__).resolve().parents[2]
COMPOSE_REALM = REPO / "compose" / "keycloak" / "realm-perfscale.json"
CLIENT_ID = "perfscale-site"


def new_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def pem_of(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def kid_of(key: rsa.RSAPrivateKey) -> str:
    """The key id a JWKS publishes for ``key`` (its RFC 7638 thumbprint, as the provider computes it)."""
    return jwk.JWK.from_pyca(key).thumbprint()


def public_jwk(key: rsa.RSAPrivateKey, kid: str | None = None) -> dict:
    data = json.loads(jwk.JWK.from_pyca(key).export_public())
    data.update({"kid": kid or kid_of(key), "alg": "RS256", "use": "sig"})
    return data


def test_user(username: str, *, roles=(), tenant: str | None = None, email: str | None = None,
              first: str = "", last: str = "", password: str | None = None) -> dict:
    """A user entry of a realm export."""
    entry = {
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"perfscale-test/{username}")),
        "username": username,
        "email": email or f"{username}@example.test",
        "firstName": first or username.capitalize(),
        "lastName": last or "Tester",
        "enabled": True,
        "credentials": [{"type": "password", "value": password or f"{username}-pw"}],
        "realmRoles": list(roles),
        "attributes": {"tenant": [tenant]} if tenant else {},
    }
    return entry


@dataclass
class OidcTestProvider:
    """A running provider process and what the tests need to talk to it or impersonate it."""

    realm_data: dict
    key: rsa.RSAPrivateKey = field(default_factory=new_rsa_key)
    environ: dict = field(default_factory=dict)
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="oidc-provider-")))
    process: subprocess.Popen | None = None
    port: int = 0
    startup_seconds: float = 0.0

    def __post_init__(self) -> None:
        self.realm_data = resolve_placeholders(copy.deepcopy(self.realm_data), self.environ)
        self.realm = Realm(self.realm_data)

    # --- lifecycle --------------------------------------------------------------
    def start(self, timeout: float = 30.0) -> OidcTestProvider:
        (self.workdir / "realm.json").write_text(json.dumps(self.realm_data))
        (self.workdir / "signing-key.pem").write_text(pem_of(self.key))
        (self.workdir / "extra-jwks.json").write_text("[]")
        env = {
            **os.environ,
            "PROVIDER_REALM": self.realm.name,
            "PROVIDER_REALM_FILE": str(self.workdir / "realm.json"),
            "PROVIDER_KEY_FILE": str(self.workdir / "signing-key.pem"),
            "PROVIDER_DB": str(self.workdir / "provider.sqlite3"),
            "PROVIDER_EXTRA_JWKS_FILE": str(self.workdir / "extra-jwks.json"),
            "PYTHONPATH": str(REPO),
        }
        env.pop("DJANGO_SETTINGS_MODULE", None)
        started = time.monotonic()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.oidc_provider.serve"],
            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        line: list[str] = []
        reader = threading.Thread(target=lambda: line.append(self.process.stdout.readline()), daemon=True)
        reader.start()
        reader.join(timeout)
        if not line or not line[0].startswith("READY "):
            self.stop()
            stderr = self.process.stderr.read() if self.process.stderr else ""
            raise RuntimeError(f"the test OpenID provider did not start within {timeout}s: {stderr[-2000:]}")
        self.port = int(line[0].split()[1])
        self.startup_seconds = time.monotonic() - started
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

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
        return kid_of(self.key)

    def settings(self, **extra) -> dict:
        """perfmon settings pointing at this provider."""
        return {
            "OIDC_ISSUER": self.issuer,
            "OIDC_PROVIDER_URL": "",
            "OIDC_RP_CLIENT_ID": CLIENT_ID,
            "OIDC_RP_CLIENT_SECRET": self.client_secret,
            "OIDC_AUDIENCE": "",
            "OIDC_TENANT_CLAIM": "tenant",
            **extra,
        }

    # --- the provider's side ------------------------------------------------------
    def password_grant(self, username: str, password: str | None = None, **fields) -> requests.Response:
        """POST to the token endpoint exactly as the API document's curl does (ROPC grant)."""
        user = self.realm.user_by_login(username)
        data = {
            "grant_type": "password",
            "client_id": CLIENT_ID,
            "client_secret": self.client_secret,
            "username": username,
            "password": password if password is not None else (user.password if user else ""),
            **fields,
        }
        return requests.post(self.token_endpoint, data=data, timeout=10)

    def token(self, username: str, password: str | None = None) -> str:
        response = self.password_grant(username, password)
        assert response.status_code == 200, response.text
        return response.json()["access_token"]

    def request_counts(self) -> dict[str, int]:
        return requests.get(f"{self.base_url}/_test/stats", timeout=10).json()["paths"]

    def jwks_requests(self) -> int:
        return self.request_counts().get(f"/realms/{self.realm.name}/protocol/openid-connect/certs", 0)

    def publish_extra_keys(self, *keys: dict) -> None:
        """Publish more public keys in the JWKS (a key rotation)."""
        (self.workdir / "extra-jwks.json").write_text(json.dumps(list(keys)))

    # --- tokens no honest provider would issue (or this one's, minted directly) ------
    def claims_for(self, username: str, **overrides) -> dict:
        """The claims this provider would put in ``username``'s access token, with ``overrides``
        (a value of None removes the claim)."""
        user = self.realm.user_by_login(username)
        now = int(time.time())
        claims = {
            "exp": now + 300, "iat": now, "jti": str(uuid.uuid4()), "iss": self.issuer, "typ": "Bearer",
            "azp": CLIENT_ID, "scope": "openid email profile",
            **self.realm.claims(user, self.realm.clients[CLIENT_ID], token="access"),
        }
        for name, value in overrides.items():
            if value is None:
                claims.pop(name, None)
            else:
                claims[name] = value
        return claims

    def mint(self, claims: dict, *, key: rsa.RSAPrivateKey | None = None, kid: str | None = None,
             alg: str = "RS256", headers: dict | None = None) -> str:
        key = key or self.key
        header = {"kid": kid or kid_of(key), "typ": "JWT", **(headers or {})}
        return jwt.encode(claims, key, algorithm=alg, headers=header)


def unsigned_token(claims: dict, kid: str) -> str:
    """An ``alg: none`` token (no signature)."""
    return jwt.encode(claims, key=None, algorithm="none", headers={"kid": kid})
