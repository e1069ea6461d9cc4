#!/usr/bin/env bash
# A real Keycloak on 127.0.0.1 with the project's realm, for running perfmon's
# OIDC sign-in and /api/v1 against it (and for the test suite, which starts its
# own through this script):
#
#   eval "$(bash scripts/keycloak.sh)"      # or: eval "$(make -s keycloak)"
#
# installs the pinned Keycloak under var/tools (once), starts it in the
# background in dev mode (`kc.sh start-dev`, H2 database in its instance
# directory) with compose/keycloak/realm-perfscale.json imported, waits until the
# realm answers, and prints the exports perfmon needs (OIDC_ISSUER,
# OIDC_RP_CLIENT_ID, OIDC_RP_CLIENT_SECRET). Running it again while it runs only
# prints them again.
#
#   scripts/keycloak.sh --install   install only (CI does this before the tests)
#   scripts/keycloak.sh --stop      stop the instance (its data is kept)
#   scripts/keycloak.sh --fresh     start with a new database (the realm is
#                                   imported again; users added since are lost)
#   scripts/keycloak.sh --dir DIR --port N --realm FILE --exit-with PID
#
# Nothing is deleted unless --fresh is given: a restart keeps users, sessions and
# settings changed in the admin console (the import skips an existing realm).
# The instance directory (default var/keycloak) holds bin/, conf/, data/ (the H2
# database, data/import/), keycloak.log and keycloak.pid; the distribution itself
# (var/tools/keycloak-<version>) is shared by every instance and never written
# to except by Keycloak's own one-time dev-mode build (lib/quarkus), which runs
# under a lock.
#
# Environment: KEYCLOAK_PORT (8180), KEYCLOAK_DIR (var/keycloak),
# KEYCLOAK_REALM_FILE (compose/keycloak/realm-perfscale.json),
# PERFSCALE_CLIENT_SECRET (perfscale-dev-secret), PERFMON_PUBLIC_URL
# (http://localhost:8000: the realm's redirect URI), KEYCLOAK_JAVA_HOME (a JDK 21+;
# default: the newest under /usr/lib/jvm), KEYCLOAK_ADMIN_PASSWORD (admin of the
# master realm, created on the first start; default admin),
# KEYCLOAK_START_TIMEOUT (240 seconds), PERFMON_TOOLS_DIR, MVN.
set -euo pipefail

KEYCLOAK_VERSION=26.4.7
# sha256 of org.keycloak:keycloak-quarkus-dist:26.4.7:zip as Maven Central serves it.
KEYCLOAK_SHA256=dd9834c023460be856f731423d86228c23b5d002194a2064642bec0cc6573eaa

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
TOOLS="${PERFMON_TOOLS_DIR:-$ROOT/var/tools}"
DIST="$TOOLS/keycloak-$KEYCLOAK_VERSION"
MVN="${MVN:-mvn}"
PORT="${KEYCLOAK_PORT:-8180}"
DIR="${KEYCLOAK_DIR:-$ROOT/var/keycloak}"
REALM_FILE="${KEYCLOAK_REALM_FILE:-$ROOT/compose/keycloak/realm-perfscale.json}"
SECRET="${PERFSCALE_CLIENT_SECRET:-perfscale-dev-secret}"
PUBLIC_URL="${PERFMON_PUBLIC_URL:-http://localhost:8000}"
TIMEOUT="${KEYCLOAK_START_TIMEOUT:-240}"
REALM=perfscale
CLIENT_ID=perfscale-site

ACTION=start
FRESH=0
EXIT_WITH=""
while [ "$#" -gt 0 ]; do
  case "$1" in
    --install) ACTION=install ;;
    --stop) ACTION=stop ;;
    --fresh) FRESH=1 ;;
    --dir) DIR="$2"; shift ;;
    --port) PORT="$2"; shift ;;
    --realm) REALM_FILE="$2"; shift ;;
    --exit-with) EXIT_WITH="$2"; shift ;;
    -h|--help) sed -n '2,36p' "$0"; exit 0 ;;
    *) echo "usage: scripts/keycloak.sh [--install|--stop] [--fresh] [--dir DIR] [--port N] [--realm FILE] [--exit-with PID]" >&2; exit 2 ;;
  esac
  shift
done
case "$DIR" in /*) ;; *) DIR="$PWD/$DIR" ;; esac

say() { echo "[keycloak] $*" >&2; }
die() { say "$*"; exit 1; }

find_java_home() {
  if [ -n "${KEYCLOAK_JAVA_HOME:-}" ]; then echo "$KEYCLOAK_JAVA_HOME"; return; fi
  local best="" best_major=0 home major
  for home in /usr/lib/jvm/* ${JAVA_HOME:+"$JAVA_HOME"}; do
    [ -x "$home/bin/java" ] || continue
    major=$("$home/bin/java" -XshowSettings:properties -version 2>&1 \
      | awk -F'= ' '/java.specification.version/ {print $2}' | cut -d. -f1)
    if [ -n "$major" ] && [ "$major" -gt "$best_major" ]; then best="$home"; best_major="$major"; fi
  done
  [ "$best_major" -ge 21 ] || die "Keycloak $KEYCLOAK_VERSION needs a JDK 21+ (none under /usr/lib/jvm; set KEYCLOAK_JAVA_HOME)"
  echo "$best"
}

install() {
  if [ -f "$DIST/.perfmon-installed" ] && [ "$(cat "$DIST/.perfmon-installed")" = "$KEYCLOAK_VERSION" ]; then
    say "Keycloak $KEYCLOAK_VERSION already installed in $DIST"
    return
  fi
  command -v "$MVN" >/dev/null || die "$MVN not found (Maven fetches Keycloak from Maven Central)"
  command -v unzip >/dev/null || die "unzip not found"
  local download="$TOOLS/.download"
  local zip="$download/keycloak-quarkus-dist-$KEYCLOAK_VERSION.zip"
  mkdir -p "$download"
  if [ ! -f "$zip" ] || [ "$(sha256sum "$zip" | cut -d' ' -f1)" != "$KEYCLOAK_SHA256" ]; then
    say "downloading org.keycloak:keycloak-quarkus-dist:$KEYCLOAK_VERSION from Maven Central"
    rm -f "$zip"
    "$MVN" -q -B dependency:copy -Dartifact="org.keycloak:keycloak-quarkus-dist:$KEYCLOAK_VERSION:zip" \
      -DoutputDirectory="$download" >&2
  fi
  local got
  got=$(sha256sum "$zip" | cut -d' ' -f1)
  [ "$got" = "$KEYCLOAK_SHA256" ] || { rm -f "$zip"; die "checksum mismatch for $zip: $got"; }
  rm -rf "$DIST" "$DIST.partial"
  mkdir -p "$DIST.partial"
  unzip -q "$zip" -d "$DIST.partial"
  mv "$DIST.partial/keycloak-$KEYCLOAK_VERSION" "$DIST"
  rmdir "$DIST.partial"
  [ -f "$DIST/bin/kc.sh" ] && [ -f "$DIST/lib/quarkus-run.jar" ] || die "the archive has no bin/kc.sh or lib/quarkus-run.jar"
  rm -f "$zip"
  echo "$KEYCLOAK_VERSION" > "$DIST/.perfmon-installed"
  say "installed Keycloak $KEYCLOAK_VERSION in $DIST"
}

pid_alive() { [ -f "$DIR/keycloak.pid" ] && kill -0 "$(cat "$DIR/keycloak.pid")" 2>/dev/null; }

issuer() { echo "http://127.0.0.1:$PORT/realms/$REALM"; }

realm_answers() {
  curl -fsS -o /dev/null --max-time 5 "$(issuer)/.well-known/openid-configuration" 2>/dev/null
}

print_exports() {
  say "Keycloak $KEYCLOAK_VERSION is up: $(issuer) (admin console http://127.0.0.1:$PORT/admin/, log $DIR/keycloak.log)"
  echo "export OIDC_ISSUER=$(issuer)"
  echo "export OIDC_RP_CLIENT_ID=$CLIENT_ID"
  echo "export OIDC_RP_CLIENT_SECRET=$SECRET"
}

stop() {
  if ! pid_alive; then
    say "not running ($DIR)"
    rm -f "$DIR/keycloak.pid"
    return
  fi
  local pid
  pid=$(cat "$DIR/keycloak.pid")
  say "stopping Keycloak (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  if kill -0 "$pid" 2>/dev/null; then
    say "still running after 30 s: killing it"
    pkill -KILL -P "$pid" 2>/dev/null || true
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$DIR/keycloak.pid"
}

# The instance directory is a Keycloak home of its own: kc.sh copied (it takes its
# home from its own path), conf/ copied, lib/ and themes/ linked to the
# distribution, and data/ (database, import directory) its own.
make_instance() {
  mkdir -p "$DIR/bin" "$DIR/providers" "$DIR/data/import"
  cp "$DIST/bin/kc.sh" "$DIR/bin/kc.sh"
  [ -d "$DIR/conf" ] || cp -r "$DIST/conf" "$DIR/conf"
  ln -sfn "$DIST/lib" "$DIR/lib"
  ln -sfn "$DIST/themes" "$DIR/themes"
  [ -f "$REALM_FILE" ] || die "no realm file $REALM_FILE"
  cp "$REALM_FILE" "$DIR/data/import/realm-$REALM.json"
}

start() {
  if pid_alive; then
    if realm_answers; then print_exports; return; fi
    die "a Keycloak of $DIR runs (pid $(cat "$DIR/keycloak.pid")) but $(issuer) does not answer: --stop it first (or wait: it may be starting)"
  fi
  command -v curl >/dev/null || die "curl not found"
  if curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$PORT/" 2>/dev/null; then
    die "port $PORT on 127.0.0.1 is taken by something else (set KEYCLOAK_PORT)"
  fi
  install
  local java_home
  java_home=$(find_java_home)
  make_instance
  if [ "$FRESH" = 1 ]; then
    say "--fresh: removing the database of $DIR"
    rm -rf "$DIR/data/h2" "$DIR/data/transaction-logs"
  fi
  say "starting Keycloak $KEYCLOAK_VERSION on 127.0.0.1:$PORT ($DIR; Java $java_home)"
  # One start at a time per distribution: the first start of dev mode rebuilds lib/quarkus.
  exec 9>"$DIST/.start.lock"
  flock -w "$TIMEOUT" 9 || die "another Keycloak start held $DIST/.start.lock for $TIMEOUT s"
  (
    cd "$DIR"
    export JAVA_HOME="$java_home" PERFSCALE_CLIENT_SECRET="$SECRET" PERFMON_PUBLIC_URL="$PUBLIC_URL"
    export KC_BOOTSTRAP_ADMIN_USERNAME=admin KC_BOOTSTRAP_ADMIN_PASSWORD="${KEYCLOAK_ADMIN_PASSWORD:-admin}"
    exec setsid bin/kc.sh start-dev --import-realm --http-host 127.0.0.1 --http-port "$PORT" \
      --hostname-strict=false --log-console-output=default >"$DIR/keycloak.log" 2>&1 </dev/null 9>&-
  ) &
  local pid=$!
  echo "$pid" > "$DIR/keycloak.pid"
  if [ -n "$EXIT_WITH" ]; then
    # Stop it when that process (a test run) is gone, even if it was killed without cleaning up.
    (
      while kill -0 "$EXIT_WITH" 2>/dev/null && kill -0 "$pid" 2>/dev/null; do sleep 1; done
      kill -TERM "$pid" 2>/dev/null || true
    ) </dev/null >/dev/null 2>&1 9>&- &
  fi
  local waited=0
  until realm_answers; do
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -n 30 "$DIR/keycloak.log" >&2 || true
      rm -f "$DIR/keycloak.pid"
      die "Keycloak exited while starting (log: $DIR/keycloak.log)"
    fi
    if [ "$waited" -ge "$TIMEOUT" ]; then
      tail -n 30 "$DIR/keycloak.log" >&2 || true
      stop
      die "Keycloak did not answer at $(issuer) within $TIMEOUT s (log: $DIR/keycloak.log)"
    fi
    sleep 1
    waited=$((waited + 1))
  done
  flock -u 9
  say "ready after ${waited} s"
  print_exports
}

case "$ACTION" in
  install) install ;;
  stop) stop ;;
  start) start ;;
esac
