"""Base for perfmon's scriptable management commands.

Each prints its result as the last line of stdout and exits non-zero with a
one-line message on bad input, so shell scripts can do
``KEY=$(manage.py create_api_key demo | tail -n1)``.
"""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from perfmon.core.errors import PerfmonError


class ScriptableCommand(BaseCommand):
    def execute(self, *args, **options):
        try:
            return super().execute(*args, **options)
        except PerfmonError as exc:
            raise CommandError(exc.message) from None

    def tenant(self, slug: str | None):
        """The named tenant, else the demo tenant that `make up` bootstraps."""
        from perfmon.tenants.services import tenant_by_slug

        return tenant_by_slug(slug or settings.PERFMON_DEMO_TENANT_SLUG)
