from django.apps import AppConfig


class OperationsConfig(AppConfig):
    name = "perfmon.operations"
    label = "operations"
    verbose_name = "Operations"

    def ready(self) -> None:
        from perfmon.operations import audit
        from perfmon.operations.run_events import on_run_ended
        from perfmon.runs.lifecycle import run_ended

        audit.connect()
        # Runs announce their end; the run.completed webhooks listen, so runs never import operations.
        run_ended.connect(on_run_ended, dispatch_uid="perfmon.operations.run_events")
