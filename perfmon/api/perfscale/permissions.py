"""Who may do what on /api/v1: a known tenant first, then the realm role (docs/auth.md has the matrix).

viewer reads; member also writes (tests, machines, tasks); admin also
manages the tenant. The role checks are the shared ones of both surfaces
(perfmon/api/common/permissions.py); this adds the tenant check and
messages that say what is missing.
"""

from __future__ import annotations

from rest_framework import exceptions
from rest_framework.permissions import SAFE_METHODS, BasePermission

from perfmon.api.common.permissions import TenantRolePermission
from perfmon.tenants.models import Role


class HasTenantAndRole(TenantRolePermission):
    def has_permission(self, request, view) -> bool:
        principal = request.user
        if principal is None or not getattr(principal, "is_authenticated", False):
            return False
        if principal.tenant is None:
            reason = getattr(request.auth, "tenant_error", "") or "the token names no tenant"
            raise exceptions.PermissionDenied(f"No access: {reason}.")
        if super().has_permission(request, view):
            return True
        if request.method in getattr(view, "admin_methods", ()):
            needed = Role.ADMIN
        else:
            needed = Role.VIEWER if request.method in SAFE_METHODS else Role.MEMBER
        held = ", ".join(sorted(principal.roles)) or "none of viewer, member, admin"
        raise exceptions.PermissionDenied(f"This needs the '{needed}' realm role; the token has {held}.")


class IsBearerAuthenticated(BasePermission):
    """Any verified token, whatever its tenant and roles (GET /auth/me)."""

    def has_permission(self, request, view) -> bool:
        return bool(getattr(request.user, "is_authenticated", False))
