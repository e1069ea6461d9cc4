from django.apps import AppConfig


class DefinitionsConfig(AppConfig):
    name = "perfmon.definitions"
    label = "definitions"
    verbose_name = "Test definitions"
