#!/bin/sh
# What building and testing sslshim needs on Debian 12 (run as root).
set -e
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
    build-essential g++ libssl-dev openssl libunwind-dev valgrind \
    curl nginx-light python3 ca-certificates binutils \
    rsyslog tshark util-linux chromium ltrace gdb groff-base strace >/dev/null
# The fleet tests (tests/test_fleet.py): rsyslog's RELP with TLS, and the
# tools that make and join the namespaces the test's "hosts" live in.
apt-get install -y -qq --no-install-recommends rsyslog-relp iproute2 jq >/dev/null
# make check-tsan: clang's ThreadSanitizer and llvm-symbolizer for its reports.
apt-get install -y -qq --no-install-recommends clang llvm >/dev/null
