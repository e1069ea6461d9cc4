"""Reads of test definitions, always scoped to a tenant."""

from __future__ import annotations

import uuid

from perfmon.core.errors import NotFound
from perfmon.definitions.models import TestDefinition


def tests_for_tenant(tenant):
    """Every test definition of ``tenant`` (standalone and monitor-owned), newest first."""
    return TestDefinition.objects.for_tenant(tenant).order_by("-created_at", "-id")


def standalone_tests(tenant):
    """The tenant's tests that no monitor owns: the /api/v1 ``tests`` collection, newest first.

    A monitor's own test definition is edited through its monitor (/api), so
    it is not listed, changed or deleted through /api/v1.
    """
    return tests_for_tenant(tenant).filter(monitor__isnull=True)


def _as_uuid(value) -> uuid.UUID | None:
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except (TypeError, ValueError, AttributeError):
        return None


def standalone_test(tenant, test_id) -> TestDefinition:
    """One standalone test of ``tenant``. Raises NotFound (also for ids that are not UUIDs)."""
    pk = _as_uuid(test_id)
    test = standalone_tests(tenant).filter(pk=pk).first() if pk else None
    if test is None:
        raise NotFound(f"Test {test_id} does not exist")
    return test
