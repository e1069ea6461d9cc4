from django.apps import AppConfig


class OperationsConfig(AppConfig):
    name = "perfmon.operations"
    label = "operations"
    verbose_name = "Operations"

    def ready(self) -> None:
        from perfmon.operations import audit

        audit.connect()
