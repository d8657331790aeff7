#!/bin/sh
# Installs the given Debian packages when any is missing. Used by `make deps`.
set -eu
missing=""
for p in "$@"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
	echo "weft: missing Debian packages:$missing" >&2
	echo "weft: run as root (or install them with: sudo apt-get install$missing)" >&2
	exit 1
fi
echo "weft: installing$missing"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
