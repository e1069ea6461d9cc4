from django.contrib import admin

from perfmon.core.admin import OperatorAdmin
from perfmon.definitions.models import TestDefinition


@admin.register(TestDefinition)
class TestDefinitionAdmin(OperatorAdmin):
    list_display = ["name", "tool", "status", "tenant", "created_at"]
    list_filter = ["tool", "status", "tenant"]
    search_fields = ["name", "tenant__slug"]
