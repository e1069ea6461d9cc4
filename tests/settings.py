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

# Integration tests start real processes (beat, workers, agents) against the
# test database, so on SQLite it must be a file they can open too.
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F821 - from the base settings
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}  # noqa: F821
