"""The baseline of bench/p1_schedule.py: stock django-celery-beat, one PeriodicTask per job.

    celery -A p1_baseline_app beat --scheduler p1_baseline_app:BenchScheduler   (cwd bench/)

The control plane's Celery app and settings, with none of its system beat
entries, and django-celery-beat's own DatabaseScheduler reading only the
benchmark's PeriodicTasks (named ``P1_BASELINE_PREFIX…``), so a database
where perfmon's beat has run keeps its entries out of the measurement.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "perfmon.settings")

import django  # noqa: E402

from perfmon.celery import app  # noqa: E402

django.setup()

from django_celery_beat.schedulers import DatabaseScheduler  # noqa: E402

app.conf.beat_schedule = {}
PREFIX = os.environ.get("P1_BASELINE_PREFIX", "bench-p1-")


class BenchScheduler(DatabaseScheduler):
    """django-celery-beat's scheduler, unchanged but for which rows it reads."""

    def enabled_models_qs(self):
        return super().enabled_models_qs().filter(name__startswith=PREFIX)
