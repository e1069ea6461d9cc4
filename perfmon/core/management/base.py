"""Base for perfmon's scriptable management commands.

Each prints its result as the last line of stdout and exits non-zero with a
one-line message on bad input, so shell scripts can do
``KEY=$(manage.py create_api_key demo | tail -n1)``.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from perfmon.core.errors import PerfmonError


class ScriptableCommand(BaseCommand):
    def execute(self, *args, **options):
        try:
            return super().execute(*args, **options)
        except PerfmonError as exc:
            raise CommandError(exc.message) from None

