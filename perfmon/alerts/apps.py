from django.apps import AppConfig


class AlertsConfig(AppConfig):
    name = "perfmon.alerts"
    label = "alerts"
    verbose_name = "Alerts"

    def ready(self) -> None:
        # Runs announce their end; alerts listen, so runs never import alerts.
        from perfmon.alerts.rules import on_run_ended
        from perfmon.runs.lifecycle import run_ended

        run_ended.connect(on_run_ended, dispatch_uid="perfmon.alerts.rules")
