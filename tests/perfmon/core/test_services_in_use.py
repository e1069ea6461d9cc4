"""On CI the suite must really run on PostgreSQL and Redis, not the embedded defaults."""

import os

import pytest
from django.conf import settings
from django.db import connection

from tests.conftest import require


@pytest.mark.django_db
def test_database_is_postgresql_when_database_url_says_so():
    url = os.environ.get("DATABASE_URL", "")
    require(url.startswith("postgres"), "PostgreSQL (DATABASE_URL)")
    assert connection.vendor == "postgresql"
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        version = cursor.fetchone()[0]
    assert int(version.split(".")[0]) >= 13


def test_broker_and_cache_are_redis_when_redis_url_says_so():
    require(bool(os.environ.get("REDIS_URL")), "Redis (REDIS_URL)")
    assert settings.CELERY_BROKER_URL.startswith("redis://")
    from django.core.cache import cache

    cache.set("perfmon-ci-probe", "1", 5)
    assert cache.get("perfmon-ci-probe") == "1"
    import redis

    assert redis.Redis.from_url(os.environ["REDIS_URL"]).ping()
