from django.apps import AppConfig


class TenantsConfig(AppConfig):
    name = "perfmon.tenants"
    label = "tenants"
    verbose_name = "Tenants, API keys and licenses"
