"""Reads of test definitions, always scoped to a tenant."""

from __future__ import annotations

from perfmon.core.errors import NotFound
from perfmon.core.ids import as_uuid
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


def standalone_test(tenant, test_id) -> TestDefinition:
    """One standalone test of ``tenant``. Raises NotFound (also for ids that are not UUIDs)."""
    pk = as_uuid(test_id)
    test = standalone_tests(tenant).filter(pk=pk).first() if pk else None
    if test is None:
        raise NotFound(f"Test {test_id} does not exist")
    return test
