"""The control plane's Celery app, configured from Django settings (``CELERY_*``)."""

from __future__ import annotations

import os
import signal

from celery import Celery
from celery.signals import beat_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "perfmon.settings")

app = Celery("perfmon")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@beat_init.connect
def stop_beat_without_closing_under_it(sender, **kwargs):
    """SIGTERM and SIGINT stop beat even when they arrive while it publishes.

    Celery's own handler saves the schedule, which also releases the broker
    connection, and then raises SystemExit. Arriving while beat is reading a
    reply on that very connection, the release closes the read buffer under
    redis-py, whose cleanup then fails ("I/O operation on closed file") and
    replaces the SystemExit: beat logs a scheduling error, carries on and has
    to be killed. Raising SystemExit alone is enough: beat's service loop
    catches it and saves the schedule (and releases the connection) in its
    ``finally``, after the read has unwound.
    """

    def stop(signum, frame):
        raise SystemExit()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
