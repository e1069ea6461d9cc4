"""The control plane's Celery app, configured from Django settings (``CELERY_*``)."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "perfmon.settings")

app = Celery("perfmon")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
