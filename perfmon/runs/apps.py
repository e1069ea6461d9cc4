from django.apps import AppConfig


class RunsConfig(AppConfig):
    name = "perfmon.runs"
    label = "runs"
    verbose_name = "Runs"
