#!/bin/sh
# `make test` where a user would clone: a fresh `git clone` of this checkout's HEAD into a private directory
# (mktemp -d, mode 0700, like /root or a home directory) with its venv in another directory (VENV=...).
# Usage: scripts/check-clone.sh [pytest arguments]   e.g.  scripts/check-clone.sh tests/hw tests/tuning
#        scripts/check-clone.sh --cpu-load            the whole suite with every core busy
# Exit status: make test's. Both directories are removed afterwards.
set -eu
src=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
venvs=$(mktemp -d)
trap 'rm -rf "$work" "$venvs"' EXIT INT TERM
git clone -q --no-hardlinks "$src" "$work/tickwire"
cd "$work/tickwire"
echo "check-clone: $(git log -1 --format='%h %s') in $work (mode $(stat -c %a "$work")), VENV=$venvs/venv" >&2
make test VENV="$venvs/venv" PYTEST_ARGS="$*"
