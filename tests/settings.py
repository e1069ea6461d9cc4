"""Settings for the test suite: perfmon's own, with a test secret and a private var dir.

DATABASE_URL / REDIS_URL from the environment still decide PostgreSQL and
Redis (CI sets both through scripts/services.sh).
"""

import os
import tempfile

os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production")
os.environ.setdefault("PERFMON_VAR_DIR", tempfile.mkdtemp(prefix="perfmon-test-"))

from perfmon import settings as _base  # noqa: E402

globals().update({name: getattr(_base, name) for name in dir(_base) if name.isupper()})

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast test users only
