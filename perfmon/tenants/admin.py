from django.contrib import admin

from perfmon.core.admin import OperatorAdmin, ServiceAdmin, ServiceForm
from perfmon.tenants.models import ApiKey, License, Membership, Tenant
from perfmon.tenants.services import (
    add_membership,
    create_tenant,
    remove_membership,
    revoke_api_key,
    update_membership,
    update_tenant,
)


class MembershipForm(ServiceForm):
    class Meta:
        model = Membership
        fields = ["user", "role"]

    def create(self, values):
        # The inline row's instance already points at the tenant being edited.
        return add_membership(tenant=self.instance.tenant, **values)

    def write(self, stored, changes):
        update_membership(tenant=stored.tenant, membership=stored, **changes)


class MembershipInline(admin.TabularInline):
    model = Membership
    form = MembershipForm
    extra = 0
    autocomplete_fields = ["user"]


class TenantForm(ServiceForm):
    class Meta:
        model = Tenant
        fields = ["name", "slug", "is_active"]

    def create(self, values):
        tenant = create_tenant(name=values["name"], slug=values["slug"])
        if values.get("is_active") is False:
            tenant = update_tenant(tenant=tenant, is_active=False)
        return tenant

    def write(self, stored, changes):
        update_tenant(tenant=stored, **changes)


@admin.register(Tenant)
class TenantAdmin(ServiceAdmin):
    form = TenantForm
    adds = True
    list_display = ["name", "slug", "is_active", "monitor_count", "created_at"]
    list_filter = ["is_active"]
    search_fields = ["name", "slug"]
    inlines = [MembershipInline]

    def get_readonly_fields(self, request, obj=None):
        # Tokens' tenant claim and signed licenses name the tenant by its slug, so it is fixed once made.
        return ["slug"] if obj is not None else []

    def get_prepopulated_fields(self, request, obj=None):
        return {"slug": ["name"]} if obj is None else {}

    def get_inline_instances(self, request, obj=None):
        # Members are added once the tenant exists (their rows are written as the form is checked).
        return super().get_inline_instances(request, obj) if obj is not None else []

    def save_formset(self, request, form, formset, change):
        # Added and changed rows were written by their forms (MembershipForm); removals are left.
        removed = [row for row in formset.deleted_forms if row.instance.pk is not None]
        for row in removed:
            remove_membership(tenant=form.instance, membership=row.instance)
        # What the admin's history entry lists (formset.save() would have set these).
        written = [row for row in formset.forms if row.has_changed() and row not in formset.deleted_forms]
        formset.new_objects = [row.instance for row in written if row in formset.extra_forms]
        formset.changed_objects = [(row.instance, row.changed_data) for row in written if row in formset.initial_forms]
        formset.deleted_objects = [row.instance for row in removed]

    @admin.display(description="monitors")
    def monitor_count(self, tenant):
        return tenant.monitors.count()


@admin.register(ApiKey)
class ApiKeyAdmin(OperatorAdmin):
    # The key itself is never stored; the digest is never shown.
    list_display = ["display_prefix", "name", "tenant", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["tenant", ("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["prefix", "name", "tenant__slug"]
    fields = ["tenant", "name", "prefix", "created_at", "last_used_at", "revoked_at"]
    # Nothing is edited here: a key is revoked (the action) and replaced, never moved or renamed.
    readonly_fields = fields
    actions = ["revoke"]

    def has_add_permission(self, request):
        # Keys are created with `manage.py create_api_key`, which shows the secret once.
        return False

    @admin.display(description="key")
    def display_prefix(self, api_key):
        return f"pmk_{api_key.prefix}_…"

    @admin.action(description="Revoke selected API keys")
    def revoke(self, request, queryset):
        active = list(queryset.filter(revoked_at__isnull=True).select_related("tenant"))
        for api_key in active:
            revoke_api_key(tenant=api_key.tenant, api_key_id=api_key.pk)
        self.report(request, len(active), "key(s) revoked", [])


@admin.register(License)
class LicenseAdmin(OperatorAdmin):
    list_display = ["tenant", "tier", "monitor_limit", "valid_until", "issued_at", "license_id"]
    list_filter = ["tier"]
    search_fields = ["tenant__slug", "license_id"]
    readonly_fields = ["tenant", "license_id", "tier", "monitor_limit", "issued_at", "valid_until"]
    exclude = ["token"]

    def has_add_permission(self, request):
        # Licenses are installed through the API, which verifies their signature.
        return False
