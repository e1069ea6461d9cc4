#!/usr/bin/env bash
# Install Gatling (Java DSL) from Maven Central under var/tools/gatling, with
# a launcher at var/tools/bin/gatling.
#
# Gatling's npm launcher downloads its bundle from GitHub, which agents cannot
# reach; Maven Central has the same bundle as artifacts. We resolve
# io.gatling.highcharts:gatling-charts-highcharts (the bundle: engine, HTTP,
# Java DSL, HTML reports) and its dependencies into lib/, and write a launcher
# that compiles one user simulation (a .java file) with javac against that
# fixed classpath and runs io.gatling.app.Gatling on it: two JVM starts, no
# Maven (nor Scala compiler) per run.
#
# Idempotent: a complete install of the same version is left alone (only the
# launcher is rewritten).
# Environment: GATLING_VERSION (default 3.15.1), PERFMON_TOOLS_DIR (default
# <repo>/var/tools), MVN (default mvn).
set -euo pipefail

GATLING_VERSION="${GATLING_VERSION:-3.15.1}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
TOOLS="${PERFMON_TOOLS_DIR:-$ROOT/var/tools}"
HOME_DIR="$TOOLS/gatling"
LAUNCHER="$TOOLS/bin/gatling"
MVN="${MVN:-mvn}"

die() { echo "install-gatling: $*" >&2; exit 1; }

# The launcher is rewritten on every run (cheap), so changes to it reach installs
# whose jars are already in place.
write_launcher() {
  mkdir -p "$TOOLS/bin"
  # the launcher finds the install next to itself, so var/tools can move
  cat > "$LAUNCHER.tmp" <<'SH'
#!/usr/bin/env bash
# perfmon launcher for Gatling (installed by scripts/install-gatling.sh).
#
#   gatling --version
#   gatling [-Dname=value ...] [Gatling options] SIMULATION.java
#   gatling [Gatling options]                      (e.g. --reports-only DIR)
#
# SIMULATION.java is one Java DSL source file whose (public) class extends
# io.gatling.javaapi.core.Simulation; it may have any file name. It is
# compiled into PERFMON_GATLING_CLASSES (default: .gatling-classes beside it)
# and run with --simulation set to its class. -Dname=value arguments and
# @argfiles (java's argument files, e.g. holding "-Dname=value" lines) go to
# the JVM, so the simulation reads them with System.getProperty. JAVA_OPTS is
# added to the JVM options. Exit codes: Gatling's (0 ok, 1 invalid arguments
# or crash, 2 assertions failed), and 3 when the simulation does not compile.
#
# Network and privacy defaults (a -D argument overrides them):
#  - gatling.http.warmUpUrl is blank: Gatling otherwise sends a warm-up request
#    to https://gatling.io before the first HTTP request;
#  - gatling.data.enableAnalytics=false: no anonymous usage events;
#  - https.proxyHost=127.0.0.1:1 for java.net connections: Gatling looks up its
#    latest release on Maven Central at every start (seconds, and a request
#    to the Internet); this makes that lookup fail at once. Gatling's own HTTP
#    client (Netty) does not use these properties, so load traffic is not
#    affected; plain java.net.URL use inside a simulation would be.
set -euo pipefail
here="$(cd "$(dirname "$(readlink -f "$0")")" && pwd)"
GATLING_HOME="${GATLING_HOME:-$here/../gatling}"
CP="$GATLING_HOME/conf:$GATLING_HOME/lib/*"
JAVA="${JAVA:-java}"
JAVAC="${JAVAC:-javac}"

case "${1:-}" in
  --version|-v|version) echo "Gatling $(cat "$GATLING_HOME/.perfmon-installed")"; exit 0 ;;
esac

jvm=()
args=()
sim=""
for a in "$@"; do
  case "$a" in
    -D*|@*) jvm+=("$a") ;;
    *.java) sim="$a" ;;
    *) args+=("$a") ;;
  esac
done

if [ -n "$sim" ]; then
  [ -f "$sim" ] || { echo "gatling: no such simulation file: $sim" >&2; exit 3; }
  # The class is named by the source, not by the file name the agent chose: the
  # class that extends Simulation, else the first public class, else the first class.
  decl='^[[:space:]]*(public[[:space:]]+)?((final|abstract)[[:space:]]+)?class[[:space:]]+([A-Za-z_$][A-Za-z0-9_$]*)'
  cls="$(sed -n -E "s/${decl}[[:space:]]+extends[[:space:]]+([A-Za-z0-9_.]+[.])?Simulation([^A-Za-z0-9_].*)?\$/\4/p" "$sim" | head -n 1)"
  [ -n "$cls" ] || cls="$(sed -n -E "s/^[[:space:]]*public[[:space:]]+((final|abstract)[[:space:]]+)?class[[:space:]]+([A-Za-z_$][A-Za-z0-9_$]*).*/\3/p" "$sim" | head -n 1)"
  [ -n "$cls" ] || cls="$(sed -n -E "s/${decl}.*/\4/p" "$sim" | head -n 1)"
  pkg="$(sed -n -E 's/^[[:space:]]*package[[:space:]]+([A-Za-z0-9_.$]+)[[:space:]]*;.*/\1/p' "$sim" | head -n 1)"
  [ -n "$cls" ] || { echo "gatling: no class declaration found in $sim" >&2; exit 3; }
  classes="${PERFMON_GATLING_CLASSES:-$(cd "$(dirname "$sim")" && pwd)/.gatling-classes}"
  rm -rf "$classes"
  mkdir -p "$classes/src" "$classes/out"
  cp "$sim" "$classes/src/$cls.java"
  "$JAVAC" -J-XX:TieredStopAtLevel=1 -J-XX:+UseSerialGC -proc:none -nowarn -encoding UTF-8 \
    -cp "$CP" -d "$classes/out" "$classes/src/$cls.java" >&2 \
    || { echo "gatling: $sim does not compile" >&2; exit 3; }
  args+=(--simulation "${pkg:+$pkg.}$cls")
  CP="$classes/out:$CP"
fi

# Gatling reads String internals when writing simulation.log (Java 17 needs the opening).
# shellcheck disable=SC2086
exec "$JAVA" -Xms128m -Xmx1g -XX:+UseG1GC -XX:+ParallelRefProcEnabled -XX:MaxInlineLevel=20 \
  -XX:MaxTrivialSize=12 --add-opens=java.base/java.lang=ALL-UNNAMED \
  -Dgatling.data.enableAnalytics=false -Dgatling.http.warmUpUrl= \
  -Dhttps.proxyHost=127.0.0.1 -Dhttps.proxyPort=1 ${JAVA_OPTS:-} "${jvm[@]}" \
  -cp "$CP" io.gatling.app.Gatling "${args[@]}"
SH
  chmod +x "$LAUNCHER.tmp"
  mv "$LAUNCHER.tmp" "$LAUNCHER"
}

if [ -f "$HOME_DIR/.perfmon-installed" ] \
   && [ "$(cat "$HOME_DIR/.perfmon-installed")" = "$GATLING_VERSION" ] \
   && [ -x "$LAUNCHER" ]; then
  write_launcher
  echo "install-gatling: Gatling $GATLING_VERSION already installed in $HOME_DIR"
  exit 0
fi

command -v java >/dev/null || die "java not found (Gatling 3.15 needs Java 11+)"
command -v javac >/dev/null || die "javac not found (simulations are compiled at run time: install a JDK)"
command -v "$MVN" >/dev/null || die "$MVN not found (Maven resolves Gatling from Maven Central)"

mkdir -p "$TOOLS/bin"
BUILD="$(mktemp -d "$TOOLS/.gatling-build.XXXXXX")"
trap 'rm -rf "$BUILD"' EXIT

cat > "$BUILD/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>perfmon.tools</groupId>
  <artifactId>gatling-distribution</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>io.gatling.highcharts</groupId>
      <artifactId>gatling-charts-highcharts</artifactId>
      <version>$GATLING_VERSION</version>
    </dependency>
  </dependencies>
</project>
POM

"$MVN" -B -q -ntp -Dstyle.color=never -f "$BUILD/pom.xml" \
  dependency:copy-dependencies -DoutputDirectory="$BUILD/gatling/lib" -DincludeScope=runtime \
  >"$BUILD/mvn.log" 2>&1 || { cat "$BUILD/mvn.log" >&2; die "Maven could not resolve Gatling $GATLING_VERSION"; }
[ -f "$BUILD/gatling/lib/gatling-app-$GATLING_VERSION.jar" ] || die "gatling-app missing from the resolved artifacts"

# Without a configuration logback logs everything at DEBUG (Netty included),
# which floods the agent's log and slows the run; Gatling's bundle ships this.
mkdir -p "$BUILD/gatling/conf"
cat > "$BUILD/gatling/conf/logback.xml" <<'XML'
<?xml version="1.0" encoding="UTF-8"?>
<configuration>
  <appender name="CONSOLE" class="ch.qos.logback.core.ConsoleAppender">
    <encoder><pattern>%d{HH:mm:ss.SSS} [%-5level] %logger{15} - %msg%n%rEx</pattern></encoder>
    <immediateFlush>false</immediateFlush>
  </appender>
  <root level="WARN"><appender-ref ref="CONSOLE" /></root>
</configuration>
XML
echo "$GATLING_VERSION" > "$BUILD/gatling/.perfmon-installed"

rm -rf "$HOME_DIR"
mv "$BUILD/gatling" "$HOME_DIR"

write_launcher

# Check the install: compile a trivial simulation against the classpath.
mkdir -p "$BUILD/check"
cat > "$BUILD/check/Check.java" <<'JAVA'
import static io.gatling.javaapi.core.CoreDsl.*;
import static io.gatling.javaapi.http.HttpDsl.*;
public class Check extends io.gatling.javaapi.core.Simulation {
  { setUp(scenario("check").exec(http("noop").get("/")).injectOpen(atOnceUsers(0))).protocols(http.baseUrl("http://127.0.0.1:9")); }
}
JAVA
javac -proc:none -nowarn -cp "$HOME_DIR/lib/*" -d "$BUILD/check" "$BUILD/check/Check.java" \
  || die "the installed Gatling Java DSL does not compile a simulation"
echo "install-gatling: Gatling $GATLING_VERSION installed in $HOME_DIR (launcher $LAUNCHER)"
