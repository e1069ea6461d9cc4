"""Base for the management commands that act on one tenant."""

from __future__ import annotations

from django.conf import settings

from perfmon.core.management.base import ScriptableCommand
from perfmon.tenants.services import tenant_by_slug


class TenantCommand(ScriptableCommand):
    def tenant(self, slug: str | None):
        """The named tenant, else the demo tenant that `make up` bootstraps. Raises NotFound."""
        return tenant_by_slug(slug or settings.PERFMON_DEMO_TENANT_SLUG)
