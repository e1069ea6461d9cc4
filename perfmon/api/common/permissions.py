"""Role checks written once for both API surfaces (the principal carries the roles)."""

from __future__ import annotations

from rest_framework.permissions import SAFE_METHODS, BasePermission

from perfmon.tenants.models import Role


class TenantRolePermission(BasePermission):
    """Reads need the viewer role, writes the member role; a view may demand admin for some methods.

    Set ``admin_methods = {"POST"}`` on a view whose writes are tenant
    administration (for example installing a license).
    """

    message = "Your role does not allow this."

    def has_permission(self, request, view) -> bool:
        principal = request.user
        if principal is None or not getattr(principal, "is_authenticated", False):
            return False
        if request.method in getattr(view, "admin_methods", ()):
            return principal.has_role(Role.ADMIN)
        if request.method in SAFE_METHODS:
            return principal.has_role(Role.VIEWER)
        return principal.has_role(Role.MEMBER)
