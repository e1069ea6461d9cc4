"""WSGI entry point of the control plane."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "perfmon.settings")
application = get_wsgi_application()
