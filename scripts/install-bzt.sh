#!/usr/bin/env bash
# Install Taurus (`bzt`, pinned, from PyPI) into its own virtualenv var/tools/bzt, for the
# agent-overhead benchmark (bench/p5_agent.py), which drives the project's installed k6
# with it. The project's .venv is never touched: Taurus pins its own dependencies.
#
# Idempotent: a finished install leaves a stamp; running again with the same pin does
# nothing. Quiet: one line on success, pip's log only on failure.
#
# Environment:
#   PYTHON   the interpreter the virtualenv is made from (default: python3)
set -euo pipefail

BZT_VERSION=1.17.2

root=$(cd "$(dirname "$0")/.." && pwd)
dest=$root/var/tools/bzt
log=$root/var/tools/bzt-install.log
python=${PYTHON:-python3}

die() { echo "install-bzt: $*" >&2; exit 1; }

command -v "$python" >/dev/null || die "$python not found"

stamp="bzt==$BZT_VERSION python=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"

# Two runs at once (make and CI in parallel) would delete each other's tree.
mkdir -p "$root/var/tools"
if command -v flock >/dev/null; then
    exec 9>"$root/var/tools/.install-bzt.lock"
    flock 9
fi

if [ -x "$dest/bin/bzt" ] && [ "$(cat "$dest/.installed" 2>/dev/null)" = "$stamp" ]; then
    echo "bzt $BZT_VERSION already installed: $dest/bin/bzt"
    exit 0
fi

# Start clean: a previous install may have been interrupted or pinned otherwise.
rm -rf "$dest"
started=$(date +%s)
if ! "$python" -m venv "$dest" >"$log" 2>&1; then
    cat "$log" >&2
    die "cannot create a virtualenv with $python (Debian: apt-get install python3-venv)"
fi
# No version check of pip itself: it would phone PyPI for nothing we use.
if ! PIP_DISABLE_PIP_VERSION_CHECK=1 "$dest/bin/python" -m pip install -q --no-input \
        "bzt==$BZT_VERSION" >>"$log" 2>&1; then
    tail -n 40 "$log" >&2
    die "pip install bzt==$BZT_VERSION failed (full log: $log)"
fi

# Smoke check before stamping: a broken install must not look finished. (bzt has no
# --version; its package says which it is, and `bzt --help` must start.)
if ! version_out=$("$dest/bin/python" -c 'import bzt; print(bzt.VERSION)' 2>&1) \
        || ! help_out=$(cd "$dest" && "$dest/bin/bzt" --help 2>&1); then
    echo "$version_out" "${help_out:-}" >&2
    die "installed bzt does not start"
fi
[ "$version_out" = "$BZT_VERSION" ] || { echo "$version_out" >&2; die "installed bzt is not version $BZT_VERSION"; }

echo "$stamp" >"$dest/.installed"
echo "bzt $BZT_VERSION installed in $(($(date +%s) - started))s ($(du -sh "$dest" | cut -f1)): $dest/bin/bzt"
