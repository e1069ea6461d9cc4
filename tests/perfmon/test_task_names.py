"""The control plane's Celery task names are stable: beat rows and queued messages carry them,
whichever module defines the task."""

from django.conf import settings

from perfmon.alerts.tasks import DELIVER_NOTIFICATION
from perfmon.celery import app
from runners.protocol import DISPATCH_DUE, MARK_AGENTS_OFFLINE, SWEEP_RUNS


def test_every_beat_entry_and_stable_name_is_a_registered_task():
    app.loader.import_default_modules()
    registered = {name for name in app.tasks if name.startswith("perfmon.")}
    beat = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert {DISPATCH_DUE, SWEEP_RUNS, MARK_AGENTS_OFFLINE, DELIVER_NOTIFICATION} | beat == registered
    assert DISPATCH_DUE == "perfmon.monitors.dispatch_due" and MARK_AGENTS_OFFLINE == "perfmon.fleet.mark_offline"
