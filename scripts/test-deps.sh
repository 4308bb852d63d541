#!/bin/sh
# What the tests need from the system besides Python: PostgreSQL's server programs (the tests
# start a throw-away server of their own; nothing is configured or left running). Installs
# Debian's postgresql package when initdb is missing; does nothing when it is there.
#
#   sudo scripts/test-deps.sh        (from the repo root; the README's test command runs it)
set -eu

if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "test-deps: error: PostgreSQL's server programs are missing; install Debian's postgresql package" \
         "(sudo apt-get install postgresql) or run this script as root" >&2
    exit 1
fi
command -v apt-get >/dev/null || { echo "test-deps: error: no apt-get to install postgresql with" >&2; exit 1; }
echo "test-deps: installing Debian's postgresql"
apt-get update -q >/dev/null
# The package starts a cluster of its own where it can (not in a container without systemd);
# the tests never use it.
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends postgresql >/dev/null
echo "test-deps: installed $(ls -d /usr/lib/postgresql/*/bin/initdb)"
