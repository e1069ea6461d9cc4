#!/usr/bin/env bash
# Install (from Debian's packages, if missing) and start PostgreSQL and Redis on
# 127.0.0.1, create the database if it does not exist, and print the exports that
# point perfmon at them:   eval "$(scripts/services.sh)"
# Nothing is deleted: an existing database and Redis' data are kept. Only
#   scripts/services.sh --fresh
# drops and recreates the database and empties the Redis database perfmon uses (/0).
# For machines without systemd (CI, containers); needs root for apt-get.
set -euo pipefail

FRESH=0
for arg in "$@"; do
  case "$arg" in
    --fresh) FRESH=1 ;;
    *) echo "usage: scripts/services.sh [--fresh]" >&2; exit 2 ;;
  esac
done

PGUSER_NAME=perfmon
PGPASS=perfmon
PGDB=${PERFMON_PGDATABASE:-perfmon}
REDIS_PORT=${PERFMON_REDIS_PORT:-6379}

say() { echo "[services] $*" >&2; }

if ! command -v pg_ctlcluster >/dev/null 2>&1 || ! command -v redis-server >/dev/null 2>&1; then
  say "installing postgresql and redis-server from Debian's packages"
  export DEBIAN_FRONTEND=noninteractive
  # Wait for another apt/dpkg (unattended upgrades, a parallel install) instead of failing.
  apt-get -o DPkg::Lock::Timeout=600 update -qq >&2
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq postgresql redis-server >&2
fi

# PostgreSQL: the cluster Debian's package created (e.g. "15 main").
read -r PGVER PGCLUSTER PGPORT _ < <(pg_lsclusters --no-header | head -n1)
if [ -z "${PGVER:-}" ]; then
  say "no PostgreSQL cluster found; creating one"
  PGVER=$(ls /usr/lib/postgresql | sort -V | tail -n1)
  pg_createcluster "$PGVER" main >&2
  read -r PGVER PGCLUSTER PGPORT _ < <(pg_lsclusters --no-header | head -n1)
fi
if ! pg_lsclusters --no-header | awk '{print $4}' | grep -q online; then
  say "starting PostgreSQL $PGVER/$PGCLUSTER on port $PGPORT"
  pg_ctlcluster --skip-systemctl-redirect "$PGVER" "$PGCLUSTER" start >&2
fi
for _ in $(seq 1 30); do
  su postgres -c "psql -p $PGPORT -tAc 'select 1'" >/dev/null 2>&1 && break
  sleep 1
done
su postgres -c "psql -p $PGPORT -v ON_ERROR_STOP=1 -q" >&2 <<SQL
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$PGUSER_NAME') THEN
    CREATE ROLE $PGUSER_NAME LOGIN CREATEDB PASSWORD '$PGPASS';
  END IF;
END \$\$;
SQL
if [ "$FRESH" = 1 ]; then
  say "--fresh: dropping and recreating database $PGDB"
  su postgres -c "dropdb -p $PGPORT --if-exists --force $PGDB" >&2
fi
if ! su postgres -c "psql -p $PGPORT -tAc \"select 1 from pg_database where datname = '$PGDB'\"" | grep -q 1; then
  su postgres -c "createdb -p $PGPORT -O $PGUSER_NAME $PGDB" >&2
fi

# Redis: no persistence, loopback only.
if ! redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping >/dev/null 2>&1; then
  say "starting Redis on 127.0.0.1:$REDIS_PORT"
  redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no >&2
  for _ in $(seq 1 30); do
    redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping >/dev/null 2>&1 && break
    sleep 0.5
  done
fi
if [ "$FRESH" = 1 ]; then
  say "--fresh: emptying Redis database 0"
  redis-cli -h 127.0.0.1 -p "$REDIS_PORT" -n 0 flushdb >/dev/null
fi

say "PostgreSQL and Redis are up"
echo "export DATABASE_URL=postgres://$PGUSER_NAME:$PGPASS@127.0.0.1:$PGPORT/$PGDB"
echo "export REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0"
