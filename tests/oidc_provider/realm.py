"""A Keycloak realm export, read the way Keycloak imports it (the subset the tests need).

Pure Python, no Django: the provider process builds its users, clients and
claims from it, and the test fixture reads the same file to know the users,
the client secret and the claims a token must carry.

Supported: ``${ENV}`` / ``${ENV:default}`` placeholders (Keycloak resolves
them at import), realm roles, users (``id``, username, email, first/last
name, enabled, password credentials, ``attributes``, ``realmRoles``),
clients (``clientId``, ``secret``, ``publicClient``,
``standardFlowEnabled``, ``directAccessGrantsEnabled``, ``redirectUris``)
and their ``protocolMappers`` of type ``oidc-usermodel-attribute-mapper``
and ``oidc-audience-mapper``; ``accessTokenLifespan``.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path

_PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::([^}]*))?\}")
# Keycloak gives every user these through the realm's default roles.
DEFAULT_REALM_ROLES = ("offline_access", "uma_authorization")


def resolve_placeholders(value, environ=None):
    """``${NAME}`` and ``${NAME:default}`` in every string of ``value``, from ``environ``."""
    environ = os.environ if environ is None else environ
    if isinstance(value, str):
        def sub(match):
            name, default = match.group(1), match.group(2)
            if name in environ:
                return environ[name]
            return default if default is not None else match.group(0)

        return _PLACEHOLDER.sub(sub, value)
    if isinstance(value, list):
        return [resolve_placeholders(item, environ) for item in value]
    if isinstance(value, dict):
        return {key: resolve_placeholders(item, environ) for key, item in value.items()}
    return value


def _true(value) -> bool:
    return value is True or str(value).lower() == "true"


@dataclass(frozen=True)
class RealmUser:
    id: str
    username: str
    email: str
    first_name: str
    last_name: str
    password: str
    enabled: bool
    attributes: dict
    realm_roles: tuple[str, ...]


@dataclass(frozen=True)
class RealmClient:
    client_id: str
    secret: str
    public: bool
    standard_flow: bool
    direct_access: bool
    redirect_uris: tuple[str, ...]
    mappers: tuple[dict, ...] = field(default_factory=tuple)


class Realm:
    """A parsed realm export."""

    def __init__(self, data: dict, environ=None) -> None:
        data = resolve_placeholders(data, environ)
        self.name = data["realm"]
        self.access_token_lifespan = int(data.get("accessTokenLifespan", 300))
        default_roles = f"default-roles-{self.name}"
        self.users: dict[str, RealmUser] = {}
        for raw in data.get("users", []):
            username = raw["username"].lower()  # Keycloak keeps usernames in lower case
            password = next(
                (c.get("value", "") for c in raw.get("credentials", []) if c.get("type") == "password"), ""
            )
            roles = tuple(raw.get("realmRoles", [])) + (default_roles, *DEFAULT_REALM_ROLES)
            self.users[username] = RealmUser(
                id=raw.get("id") or str(uuid.uuid5(uuid.NAMESPACE_URL, f"{self.name}/{username}")),
                username=username,
                email=(raw.get("email") or "").lower(),
                first_name=raw.get("firstName", ""),
                last_name=raw.get("lastName", ""),
                password=password,
                enabled=raw.get("enabled", True),
                attributes=raw.get("attributes", {}),
                realm_roles=tuple(dict.fromkeys(roles)),
            )
        self.clients: dict[str, RealmClient] = {}
        for raw in data.get("clients", []):
            self.clients[raw["clientId"]] = RealmClient(
                client_id=raw["clientId"],
                secret=raw.get("secret", ""),
                public=bool(raw.get("publicClient", False)),
                standard_flow=raw.get("standardFlowEnabled", True),
                direct_access=raw.get("directAccessGrantsEnabled", False),
                redirect_uris=tuple(raw.get("redirectUris", [])),
                mappers=tuple(raw.get("protocolMappers", [])),
            )

    @classmethod
    def from_file(cls, path, environ=None) -> Realm:
        return cls(json.loads(Path(path).read_text()), environ)

    def user_by_login(self, login: str) -> RealmUser | None:
        """By username or, as Keycloak's loginWithEmailAllowed does, by email."""
        login = (login or "").lower()
        user = self.users.get(login)
        if user is None:
            user = next((u for u in self.users.values() if u.email and u.email == login), None)
        return user

    def claims(self, user: RealmUser, client: RealmClient, *, token: str) -> dict:
        """The profile, role and mapped claims Keycloak puts in a token of kind ``token``
        (``access``, ``id`` or ``userinfo``) for ``user`` logging in through ``client``."""
        name = " ".join(part for part in (user.first_name, user.last_name) if part)
        claims = {
            "sub": user.id,
            "email_verified": bool(user.email),
            "preferred_username": user.username,
        }
        if name:
            claims["name"] = name
        if user.first_name:
            claims["given_name"] = user.first_name
        if user.last_name:
            claims["family_name"] = user.last_name
        if user.email:
            claims["email"] = user.email
        if token == "access":
            claims["realm_access"] = {"roles": list(user.realm_roles)}
        audiences = []
        kind = {"access": "access.token.claim", "id": "id.token.claim", "userinfo": "userinfo.token.claim"}[token]
        for mapper in client.mappers:
            config = mapper.get("config", {})
            if not _true(config.get(kind, "true" if token == "access" else "false")):
                continue
            if mapper.get("protocolMapper") == "oidc-usermodel-attribute-mapper":
                values = user.attributes.get(config.get("user.attribute", ""), [])
                values = values if isinstance(values, list) else [values]
                if not values:
                    continue
                claim = config.get("claim.name") or config.get("user.attribute")
                claims[claim] = list(values) if _true(config.get("multivalued")) else values[0]
            elif mapper.get("protocolMapper") == "oidc-audience-mapper" and token == "access":
                audience = config.get("included.client.audience") or config.get("included.custom.audience")
                if audience:
                    audiences.append(audience)
        if token == "access":
            claims["aud"] = audiences + ["account"] if audiences else "account"
        return claims
