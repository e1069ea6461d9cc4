"""The one path by which tenant data is queried.

Tenant-owned models declare two managers. ``objects = TenantManager()``:
its querysets refuse to be evaluated until they are scoped with
``for_tenant(tenant)``, so a forgotten filter raises ``UnscopedQuery`` in
the first test that touches the code instead of leaking rows. And
``all_tenants``, the plain default manager, named for what it reads: system
work that is deliberately cross-tenant (the scheduler tick, the sweeper,
authentication, metrics, the operators' admin) says so by using it, and
Django's own machinery (related managers, unique validation, deletion) uses
it because it always starts from an object that was itself reached through
a scoped query. There is no third way.
"""

from __future__ import annotations

from django.db import models

from perfmon.core.errors import UnscopedQuery


class TenantQuerySet(models.QuerySet):
    """A queryset that must be scoped before it is evaluated."""

    # The lookup from the model to its Tenant; models override it on the
    # manager when the tenant is reached through a relation.
    tenant_path = "tenant"
    # Agents may be shared (tenant is NULL); for those, scoping to a tenant
    # also includes the shared rows.
    include_shared = False

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._scoped = False

    def _clone(self):
        clone = super()._clone()
        clone._scoped = self._scoped
        clone.tenant_path = self.tenant_path
        clone.include_shared = self.include_shared
        return clone

    def for_tenant(self, tenant, *, include_shared: bool | None = None) -> TenantQuerySet:
        """Rows of ``tenant`` (and shared rows where the model has them)."""
        if tenant is None:
            raise UnscopedQuery(f"{self.model.__name__}.for_tenant() needs a tenant, got None")
        shared = self.include_shared if include_shared is None else include_shared
        lookup = models.Q(**{self.tenant_path: tenant})
        if shared:
            lookup |= models.Q(**{f"{self.tenant_path}__isnull": True})
        clone = self.filter(lookup)
        clone._scoped = True
        return clone

    def _check_scoped(self) -> None:
        if not self._scoped:
            raise UnscopedQuery(
                f"{self.model.__name__} query evaluated without for_tenant() (cross-tenant work reads all_tenants)"
            )

    # Every way a queryset reaches the database goes through one of these.
    def _fetch_all(self):
        if self._result_cache is None:
            self._check_scoped()
        return super()._fetch_all()

    def iterator(self, *args, **kwargs):
        self._check_scoped()
        return super().iterator(*args, **kwargs)

    def count(self):
        self._check_scoped()
        return super().count()

    def exists(self):
        self._check_scoped()
        return super().exists()

    def aggregate(self, *args, **kwargs):
        self._check_scoped()
        return super().aggregate(*args, **kwargs)

    def update(self, **kwargs):
        self._check_scoped()
        return super().update(**kwargs)

    def delete(self):
        self._check_scoped()
        return super().delete()


class TenantManager(models.Manager.from_queryset(TenantQuerySet)):
    """Manager whose querysets must be scoped; see the module docstring."""

    def __init__(self, tenant_path: str = "tenant", include_shared: bool = False) -> None:
        super().__init__()
        self.tenant_path = tenant_path
        self.include_shared = include_shared

    def get_queryset(self) -> TenantQuerySet:
        qs = super().get_queryset()
        qs.tenant_path = self.tenant_path
        qs.include_shared = self.include_shared
        return qs
