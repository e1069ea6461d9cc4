from django.contrib import admin

from perfmon.core.admin import OperatorAdmin
from perfmon.tenants.models import ApiKey, License, Membership, Tenant
from perfmon.tenants.services import revoke_api_key


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Tenant)
class TenantAdmin(OperatorAdmin):
    list_display = ["name", "slug", "is_active", "monitor_count", "created_at"]
    list_filter = ["is_active"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MembershipInline]

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
