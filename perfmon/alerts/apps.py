from django.apps import AppConfig


class AlertsConfig(AppConfig):
    name = "perfmon.alerts"
    label = "alerts"
    verbose_name = "Alerts"
