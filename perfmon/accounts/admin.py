from django.contrib import admin

from perfmon.accounts.models import OidcIdentity


@admin.register(OidcIdentity)
class OidcIdentityAdmin(admin.ModelAdmin):
    list_display = ["preferred_username", "email", "name", "sub", "issuer", "updated_at"]
    search_fields = ["preferred_username", "email", "sub"]
    readonly_fields = ["user", "issuer", "sub", "email", "name", "preferred_username", "created_at", "updated_at"]
