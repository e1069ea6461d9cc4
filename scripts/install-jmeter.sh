#!/usr/bin/env bash
# Install Apache JMeter from Maven Central under var/tools/jmeter, with a
# launcher at var/tools/bin/jmeter.
#
# Maven Central has no JMeter binary archive, but it has every artifact the
# archive is made of: ApacheJMeter (the bin/ApacheJMeter.jar launcher),
# ApacheJMeter_config (the bin/ directory: jmeter.properties, saveservice, ...),
# the ApacheJMeter_* modules (lib/ext) and their third-party dependencies
# (lib). We resolve them with Maven and lay them out as the official archive
# does, so `jmeter -n -t plan.jmx -l out.jtl` behaves as the released build.
# Debian's jmeter (2.13) is not used: it cannot load plans with Debian's
# XStream and still exits 0.
#
# Idempotent: a complete install of the same version is left alone (only the
# launcher is rewritten).
# Environment: JMETER_VERSION (default 5.6.3), PERFMON_TOOLS_DIR (default
# <repo>/var/tools), MVN (default mvn).
set -euo pipefail

JMETER_VERSION="${JMETER_VERSION:-5.6.3}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
TOOLS="${PERFMON_TOOLS_DIR:-$ROOT/var/tools}"
HOME_DIR="$TOOLS/jmeter"
LAUNCHER="$TOOLS/bin/jmeter"
MVN="${MVN:-mvn}"

die() { echo "install-jmeter: $*" >&2; exit 1; }

# The launcher is rewritten on every run (cheap), so changes to it reach installs
# whose jars are already in place.
write_launcher() {
  mkdir -p "$TOOLS/bin"
  # the launcher finds the install next to itself, so var/tools can move
  cat > "$LAUNCHER.tmp" <<'SH'
#!/bin/sh
# perfmon launcher for Apache JMeter (installed by scripts/install-jmeter.sh).
# JVM_ARGS replaces the default heap settings; everything else goes to JMeter.
here="$(cd "$(dirname "$(readlink -f "$0")")" && pwd)"
JMETER_HOME="${JMETER_HOME:-$here/../jmeter}"
exec "${JAVA:-java}" ${JVM_ARGS:--Xms128m -Xmx1g} -XX:+UseG1GC -XX:MaxGCPauseMillis=100 \
  -Djava.security.egd=file:/dev/urandom -Djava.awt.headless=true \
  -jar "$JMETER_HOME/bin/ApacheJMeter.jar" "$@"
SH
  chmod +x "$LAUNCHER.tmp"
  mv "$LAUNCHER.tmp" "$LAUNCHER"
}

if [ -f "$HOME_DIR/.perfmon-installed" ] \
   && [ "$(cat "$HOME_DIR/.perfmon-installed")" = "$JMETER_VERSION" ] \
   && [ -x "$LAUNCHER" ]; then
  write_launcher
  echo "install-jmeter: JMeter $JMETER_VERSION already installed in $HOME_DIR"
  exit 0
fi

command -v java >/dev/null || die "java not found (JMeter 5.6 needs Java 8+)"
command -v "$MVN" >/dev/null || die "$MVN not found (Maven resolves JMeter from Maven Central)"
command -v unzip >/dev/null || die "unzip not found"

mkdir -p "$TOOLS/bin"
BUILD="$(mktemp -d "$TOOLS/.jmeter-build.XXXXXX")"
trap 'rm -rf "$BUILD"' EXIT

# The modules a non-GUI HTTP load test uses: samplers (http), timers,
# assertions, extractors and listeners (components), functions such as
# __P and __Random (functions). Their poms bring the third-party jars.
cat > "$BUILD/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>perfmon.tools</groupId>
  <artifactId>jmeter-distribution</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
$(for a in ApacheJMeter ApacheJMeter_config ApacheJMeter_core ApacheJMeter_http \
           ApacheJMeter_components ApacheJMeter_functions; do
  printf '    <dependency><groupId>org.apache.jmeter</groupId><artifactId>%s</artifactId><version>%s</version></dependency>\n' "$a" "$JMETER_VERSION"
done)
  </dependencies>
</project>
POM

"$MVN" -B -q -ntp -Dstyle.color=never -f "$BUILD/pom.xml" \
  dependency:copy-dependencies -DoutputDirectory="$BUILD/jars" -DincludeScope=runtime \
  >"$BUILD/mvn.log" 2>&1 || { cat "$BUILD/mvn.log" >&2; die "Maven could not resolve JMeter $JMETER_VERSION"; }

STAGE="$BUILD/jmeter"
mkdir -p "$STAGE/bin" "$STAGE/lib/ext" "$STAGE/lib/junit"
for jar in "$BUILD"/jars/*.jar; do
  name="$(basename "$jar")"
  case "$name" in
    "ApacheJMeter-$JMETER_VERSION.jar")
      # NewDriver takes JMETER_HOME as the parent of the directory of this jar.
      cp "$jar" "$STAGE/bin/ApacheJMeter.jar" ;;
    "ApacheJMeter_config-$JMETER_VERSION.jar")
      unzip -q -o "$jar" 'bin/*' -d "$STAGE" ;;
    ApacheJMeter_*)
      # lib/ext is JMeter's search_paths: test elements and functions are found there.
      cp "$jar" "$STAGE/lib/ext/${name%-"$JMETER_VERSION".jar}.jar" ;;
    *)
      cp "$jar" "$STAGE/lib/" ;;
  esac
done
[ -f "$STAGE/bin/ApacheJMeter.jar" ] || die "launcher jar missing from the resolved artifacts"
[ -f "$STAGE/bin/jmeter.properties" ] || die "bin/jmeter.properties missing from ApacheJMeter_config"
echo "$JMETER_VERSION" > "$STAGE/.perfmon-installed"

rm -rf "$HOME_DIR"
mv "$STAGE" "$HOME_DIR"

write_launcher

"$LAUNCHER" -j /dev/null --version >"$BUILD/version.txt" 2>&1 || { cat "$BUILD/version.txt" >&2; die "installed JMeter does not start"; }
grep -q "$JMETER_VERSION" "$BUILD/version.txt" || { cat "$BUILD/version.txt" >&2; die "installed JMeter reports another version"; }
echo "install-jmeter: JMeter $JMETER_VERSION installed in $HOME_DIR (launcher $LAUNCHER)"
