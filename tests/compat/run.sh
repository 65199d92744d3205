#!/bin/sh
# run.sh — the OpenSSL compatibility matrix, as `make test-compat` runs it:
# build (or reuse) the OpenSSL versions of tests/compat/versions and the test
# programs against them, then run the checks against each version and the
# system's own.  The last line is "N passed, N failed, N skipped"; the exit
# status is 0 when nothing failed (a version whose source package could not
# be downloaded is skipped, not failed).
#
# Needs: build/libsslshim.so and the fixtures (make && make fixtures); for a
# cold cache, root (apt-get source), dpkg-dev, perl, make and a C compiler.
# COMPAT_DIR moves the cache (default build/compat).
cd "$(dirname "$0")/../.." || exit 2
COMPAT_START=$(date +%s)
export COMPAT_START
sh tests/compat/build.sh
COMPAT_BUILD_RC=$? exec python3 tests/compat/run.py
