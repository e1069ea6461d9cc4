from django.contrib import admin

from perfmon.core.admin import ServiceAdmin, ServiceForm, admin_link
from perfmon.definitions.models import TestDefinition
from perfmon.definitions.services import delete_test, update_test


class TestDefinitionForm(ServiceForm):
    class Meta:
        model = TestDefinition
        fields = ["name", "tool", "status", "script_filename", "script", "parameters"]

    def clean_script(self):
        # Browsers send a textarea's line breaks as CRLF; scripts are stored with LF.
        return self.cleaned_data["script"].replace("\r\n", "\n")

    def write(self, stored, changes):
        update_test(tenant=stored.tenant, test=stored, **changes)


@admin.register(TestDefinition)
class TestDefinitionAdmin(ServiceAdmin):
    form = TestDefinitionForm
    list_display = ["name", "tool", "status", "tenant", "created_at"]
    list_filter = ["tool", "status", "tenant"]
    search_fields = ["name", "tenant__slug"]
    readonly_fields = ["tenant", "monitor_link"]

    @admin.display(description="monitor")
    def monitor_link(self, test):
        return admin_link(getattr(test, "monitor", None))

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and hasattr(obj, "monitor"):
            # A monitor's own test is changed on its monitor's page, which keeps the monitor's copy
            # of its name and parameters equal.
            return [*self.readonly_fields, *TestDefinitionForm.Meta.fields]
        return self.readonly_fields

    def delete_model(self, request, obj):
        delete_test(tenant=obj.tenant, test=obj)  # refuses a monitor's own test: delete the monitor

    def delete_queryset(self, request, queryset):
        for test in queryset.select_related("tenant"):
            delete_test(tenant=test.tenant, test=test)
