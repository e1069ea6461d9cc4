#!/usr/bin/env bash
# Debian's Chromium and ChromeDriver for the dashboard's browser tests
# (/usr/bin/chromium, /usr/bin/chromedriver). Needs root for apt-get.
set -euo pipefail
if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
apt-get install -y -qq chromium chromium-driver >&2
