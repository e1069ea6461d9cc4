from django.apps import AppConfig


class FleetConfig(AppConfig):
    name = "perfmon.fleet"
    label = "fleet"
    verbose_name = "Agents"
