"""scripts/services.sh keeps what is there: an existing database and Redis' data survive a second
start; only --fresh drops and recreates the database, and it empties only Redis database 0."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import require

ROOT = Path(__file__).resolve().parent.parent
DB = "perfmon_services_check"

pytestmark = pytest.mark.integration


def _services(*args: str) -> str:
    env = {**os.environ, "PERFMON_PGDATABASE": DB}
    done = subprocess.run(["bash", str(ROOT / "scripts" / "services.sh"), *args], env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def _psql(sql: str) -> str:
    done = subprocess.run(["su", "postgres", "-c", f"psql -d {DB} -tAc \"{sql}\""], capture_output=True, text=True,
                          timeout=60)
    return done.stdout.strip() if done.returncode == 0 else f"error: {done.stderr.strip()}"


@pytest.fixture
def services_here():
    require(os.geteuid() == 0 and bool(shutil.which("pg_lsclusters")) and bool(shutil.which("redis-cli")),
            "root, and the PostgreSQL and Redis scripts/services.sh installs")
    yield
    subprocess.run(["su", "postgres", "-c", f"dropdb --if-exists --force {DB}"], capture_output=True, timeout=60)
    subprocess.run(["redis-cli", "-n", "15", "del", "perfmon-services-check"], capture_output=True, timeout=60)


def test_a_second_start_keeps_the_database_and_redis_and_fresh_is_asked_for(services_here):
    exports = _services()
    assert f"/{DB}" in exports and "REDIS_URL=redis://127.0.0.1:" in exports
    assert _psql("create table kept (id int); insert into kept values (1)").endswith("INSERT 0 1")
    subprocess.run(["redis-cli", "-n", "15", "set", "perfmon-services-check", "1"], check=True, capture_output=True)

    _services()
    assert _psql("select count(*) from kept") == "1"  # the data is still there
    assert subprocess.run(["redis-cli", "-n", "15", "get", "perfmon-services-check"], capture_output=True,
                          text=True).stdout.strip() == "1"

    _services("--fresh")
    assert _psql("select count(*) from kept").startswith("error")  # a new, empty database
    assert subprocess.run(["redis-cli", "-n", "15", "get", "perfmon-services-check"], capture_output=True,
                          text=True).stdout.strip() == "1"  # other Redis databases are left alone
