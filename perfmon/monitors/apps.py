from django.apps import AppConfig


class MonitorsConfig(AppConfig):
    name = "perfmon.monitors"
    label = "monitors"
    verbose_name = "Monitors"
