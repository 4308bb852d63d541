#!/bin/sh
# What the tests need from the system besides Python: PostgreSQL's server programs (the tests
# start a throw-away server of their own; nothing is configured or left running) and Chromium
# (the browser tests open the web pages in it, headless, through Playwright; Playwright's own
# browser download cannot work without the internet). Installs the Debian packages postgresql
# and chromium when they are missing; does nothing, and prints nothing, when both are there.
#
#   sudo scripts/test-deps.sh        (from the repo root; the README's test command runs it)
set -eu

missing=""
if ! { ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1; }; then
    missing="postgresql"
fi
if [ ! -x /usr/bin/chromium ]; then  # the path tests/browser.py starts
    missing="${missing:+$missing }chromium"
fi
[ -n "$missing" ] || exit 0

if [ "$(id -u)" != 0 ]; then
    echo "test-deps: error: missing Debian package(s): $missing; install them" \
         "(sudo apt-get install --no-install-recommends $missing) or run this script as root" >&2
    exit 1
fi
command -v apt-get >/dev/null || { echo "test-deps: error: no apt-get to install $missing with" >&2; exit 1; }
echo "test-deps: installing Debian's $missing"
# postgresql starts a cluster of its own where it can (not in a container without systemd); the
# tests never use it. chromium without recommends: no sandbox helper, no desktop extras (the
# tests run it headless with --no-sandbox); its fontconfig brings a font. apt's chatter is kept
# and shown only when it fails.
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! { apt-get update -q && DEBIAN_FRONTEND=noninteractive \
       apt-get install -y -q --no-install-recommends $missing; } >"$log" 2>&1; then
    cat "$log" >&2
    echo "test-deps: error: apt-get could not install $missing (its output is above)" >&2
    exit 1
fi
case " $missing " in *" postgresql "*) echo "test-deps: installed $(ls -d /usr/lib/postgresql/*/bin/initdb)" ;; esac
case " $missing " in *" chromium "*) echo "test-deps: installed $(/usr/bin/chromium --version 2>/dev/null)" ;; esac
