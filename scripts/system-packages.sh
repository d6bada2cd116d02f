#!/bin/sh
# Install the Debian packages tickwire uses, when we are root and apt is here; otherwise say what is skipped.
# Usage: system-packages.sh PKG...
missing=""
for pkg in "$@"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing="$missing $pkg"
done
if [ -z "$missing" ]; then
    exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "tickwire: skipped system packages (need root and apt-get):$missing" >&2
    echo "tickwire: DPDK features stay off until: apt-get install$missing" >&2
    exit 0
fi
echo "tickwire: installing system packages:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq || exit 1
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null || exit 1
