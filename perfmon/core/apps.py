from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "perfmon.core"
    label = "core"
    verbose_name = "perfmon core"
