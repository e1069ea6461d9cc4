#!/usr/bin/env bash
# Vendor the dashboard's charting library (uPlot) from the npm registry into
# perfmon/web/static/perfmon/vendor/uplot/. The copied files are committed; the
# dashboard never loads scripts from a CDN. Re-run to update (change VERSION).
set -euo pipefail

VERSION="${UPLOT_VERSION:-1.6.32}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DEST="$ROOT/perfmon/web/static/perfmon/vendor/uplot"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

cd "$WORK"
npm pack --silent "uplot@$VERSION" >/dev/null
tar -xzf "uplot-$VERSION.tgz"
mkdir -p "$DEST"
cp package/dist/uPlot.iife.min.js package/dist/uPlot.min.css package/LICENSE "$DEST/"
echo "$VERSION" > "$DEST/VERSION"
echo "uPlot $VERSION vendored into ${DEST#"$ROOT"/}"
