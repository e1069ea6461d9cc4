"""Inserting many runs in one set-based statement.

Django's ``bulk_create`` binds every field of every row as its own query
parameter: 10,000 runs of 29 columns are 290,000 parameters, each adapted in
Python, which was a sixth of a 10,000-monitor tick. On PostgreSQL the rows go
instead as one array per column into ``INSERT … SELECT * FROM unnest(…)``:
29 parameters per statement, adapted by psycopg's C dumpers. Other databases
(the embedded SQLite default) use ``bulk_create``.

The values are read from the unsaved model instances exactly as
``bulk_create`` reads them (``get_db_prep_save`` of every concrete field), so
defaults, choices and JSON encoding stay the model's own. ``rows`` prepares
them ahead and ``insert`` writes them, so the tick can do the first part
before a due instant and only the second at it.
"""

from __future__ import annotations

import json
from datetime import datetime

import psycopg
from django.db import connection, models

from perfmon.runs.models import Run


class PreparedRows:
    """The column arrays of unsaved runs, ready for one INSERT."""

    def __init__(self, runs: list[Run]) -> None:
        self.runs = runs
        self._fields = [field for field in Run._meta.concrete_fields if field.attname not in ("created_at", "updated_at")]
        self.columns = None
        if connection.vendor == "postgresql" and runs:
            self.columns = [self._column(field, runs) for field in self._fields]

    @staticmethod
    def _column(field, runs: list[Run]) -> list:
        if isinstance(field, models.JSONField):
            # JSON travels as text and is cast in SQL (SQL NULL for None, as Django stores it).
            return [None if (value := getattr(run, field.attname)) is None else json.dumps(value, cls=field.encoder)
                    for run in runs]
        return [field.get_db_prep_save(getattr(run, field.attname), connection) for run in runs]

    def insert(self, now: datetime) -> None:
        """Store every run with ``created_at = updated_at = now``; raises IntegrityError as an INSERT does."""
        if not self.runs:
            return
        for run in self.runs:
            run.created_at = run.updated_at = now
        if self.columns is None:
            Run.all_tenants.bulk_create(self.runs)
            return
        table = connection.ops.quote_name(Run._meta.db_table)
        names = [connection.ops.quote_name(field.column) for field in self._fields]
        json_fields = [isinstance(field, models.JSONField) for field in self._fields]
        arrays = ", ".join(
            f"%s::{'text' if is_json else field.db_type(connection)}[]"
            for field, is_json in zip(self._fields, json_fields, strict=True)
        )
        aliases = [f"c{index}" for index in range(len(self._fields))]
        selected = ", ".join(
            f"{alias}::jsonb" if is_json else alias for alias, is_json in zip(aliases, json_fields, strict=True)
        )
        sql = (
            f"INSERT INTO {table} ({', '.join(names)}, created_at, updated_at) "  # noqa: S608 (names from the model)
            f"SELECT {selected}, %s, %s FROM unnest({arrays}) AS u({', '.join(aliases)})"
        )
        connection.ensure_connection()
        # A server-side-binding cursor: each array travels as one typed parameter.
        with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
            cursor.execute(sql, [now, now, *self.columns])
        for run in self.runs:
            run._state.adding, run._state.db = False, connection.alias
