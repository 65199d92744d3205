#!/bin/sh
# What building and testing sslshim needs on Debian 12 (run as root).
set -e
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
    build-essential g++ libssl-dev openssl libunwind-dev valgrind \
    curl nginx-light python3 ca-certificates binutils \
    rsyslog tshark util-linux chromium ltrace gdb groff-base strace >/dev/null
# make check-tsan: clang's ThreadSanitizer and llvm-symbolizer for its reports.
apt-get install -y -qq --no-install-recommends clang llvm >/dev/null
