#!/usr/bin/env bash
# Create the project's virtualenv and install perfmon into it (editable).
# usage: scripts/venv.sh PYTHON VENV EXTRAS
set -euo pipefail
PYTHON=${1:-python3}
VENV=${2:-.venv}
EXTRAS=${3:-server,agent,tools,cli,dev}

if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "perfmon needs Python 3.11 or newer ($PYTHON is $("$PYTHON" --version 2>&1))" >&2
  exit 1
fi
if [ ! -x "$VENV/bin/python" ]; then
  if ! "$PYTHON" -m venv "$VENV" 2>/dev/null; then
    # Debian splits venv/ensurepip into python3-venv.
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      echo "installing python3-venv from Debian's packages" >&2
      rm -rf "$VENV"
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >&2 \
        || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv; } >&2
      "$PYTHON" -m venv "$VENV"
    else
      echo "cannot create a virtualenv: install python3-venv (apt-get install python3-venv)" >&2
      exit 1
    fi
  fi
fi
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q -e ".[$EXTRAS]"
echo "virtualenv ready: $VENV" >&2
