"""perfmon control plane (Django project)."""

from perfmon.celery import app as celery_app

__all__ = ["celery_app"]
