from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "perfmon.web"
    label = "web"
    verbose_name = "Dashboard"
