#!/bin/sh
# What building and testing sslshim needs on Debian 12 (run as root): the
# packages of tests/packages.txt.
set -e
export DEBIAN_FRONTEND=noninteractive
here=$(dirname "$0")
apt-get update -qq
# shellcheck disable=SC2046
apt-get install -y -qq --no-install-recommends $(grep -v '^#' "$here/packages.txt") >/dev/null
