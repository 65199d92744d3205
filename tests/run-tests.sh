#!/bin/sh
# Run the test suite with whichever Python 3 is first on PATH (the scripts use
# only the standard library, so /usr/bin/python3 works as well).
set -e
cd "$(dirname "$0")/.."
for tool in openssl curl nginx python3 /usr/bin/python3 c++ valgrind; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "tests: '$tool' is missing. On Debian: sudo sh tests/install-deps.sh" >&2
        exit 2
    fi
done
exec python3 tests/run.py "$@"
