"""The authenticated caller, the same shape for every API surface."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Principal:
    """Who is calling, for which tenant, with which roles.

    Both surfaces' authentication classes produce one, so permissions and
    tenant scoping are written once. ``is_authenticated`` lets DRF's
    IsAuthenticated accept it as ``request.user``.
    """

    tenant: object
    actor: str
    roles: frozenset[str] = field(default_factory=frozenset)
    user: object | None = None
    api_key: object | None = None

    is_authenticated = True
    is_anonymous = False

    def has_role(self, role: str) -> bool:
        return role in self.roles
