#!/bin/sh
# make test / make demo: the packages of tests/packages.txt, installed first
# when one is missing: as root directly, else through `sudo -n` (no password
# asked); otherwise the one command to run.  Exit 2 when they are missing.
here=$(dirname "$0")
missing=""
for p in $(grep -v '^#' "$here/packages.txt"); do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "sslshim: Debian packages missing:$missing" >&2
if [ "$(id -u)" = 0 ]; then
    echo "sslshim: installing them (tests/install-deps.sh)" >&2
    sh "$here/install-deps.sh" && exit 0
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    echo "sslshim: installing them with sudo (tests/install-deps.sh)" >&2
    sudo -n sh "$here/install-deps.sh" && exit 0
else
    echo "sslshim: run this once, as root: sudo make deps" >&2
    exit 2
fi
echo "sslshim: installing failed; run: sudo make deps" >&2
exit 2
