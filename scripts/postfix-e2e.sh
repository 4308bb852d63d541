#!/bin/sh
# Postfix in front of mailhub, end to end: a post sent to Postfix reaches mailhub, the members'
# copies leave through Postfix, a refused copy comes back as a bounce that mailhub scores.
#
#   sudo scripts/postfix-e2e.sh [--keep]       (from the repo root, after the README's install)
#
# Installs Debian's postfix if it is missing, then runs scripts/postfix_e2e.py, which starts a
# private Postfix instance (its own config, queue and log in a temporary folder, loopback ports
# only) and a real `mailhub serve`. The system's own Postfix, if any, is not touched.
# --keep leaves the temporary folder (configs, logs, the sink's mails) for a look afterwards.
set -eu

cd "$(dirname "$0")/.."

fail() {
    echo "postfix-e2e: error: $*" >&2
    exit 1
}

[ "$(id -u)" = 0 ] || fail "run as root (sudo $0): Postfix's master process must start as root"
case "${1:-}" in
    "") keep=no ;;
    --keep) keep=yes ;;
    *) fail "unknown argument '$1' (usage: $0 [--keep])" ;;
esac
[ -x .venv/bin/mailhub ] || fail "no .venv/bin/mailhub: install mailhub first (see README.md)"

install_postfix() {
    command -v apt-get >/dev/null || fail "postfix is missing and there is no apt-get to install it"
    echo "postfix-e2e: installing Debian's postfix"
    start=$(date +%s)
    # "No configuration": the package leaves the system's Postfix unconfigured and stopped;
    # this script only ever runs its own private instance.
    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
    # A fresh container has no package lists, and old ones may name files the mirror dropped.
    apt-get update -q >/dev/null || fail "apt-get update failed"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends postfix >/dev/null \
        || fail "apt-get install postfix failed"
    echo "postfix-e2e: postfix installed in $(( $(date +%s) - start ))s"
}

[ -x /usr/sbin/postfix ] || install_postfix

work=$(mktemp -d /tmp/postfix-e2e.XXXXXX)
# Postfix's daemons run as user postfix and must reach the queue inside this folder.
chmod 755 "$work"

helper=

cleanup() {
    if [ -n "$helper" ] && kill -0 "$helper" 2>/dev/null; then
        kill -TERM "$helper"  # the helper stops Postfix, mailhub and the sink on its way out
        wait "$helper" || true
    fi
    # Only if the helper itself was killed: Postfix or mailhub may still run.
    if [ -f "$work/postfix/main.cf" ] && /usr/sbin/postfix -c "$work/postfix" status >/dev/null 2>&1; then
        /usr/sbin/postfix -c "$work/postfix" stop >/dev/null 2>&1 || true
    fi
    if [ -f "$work/mailhub.pid" ]; then
        kill "$(cat "$work/mailhub.pid")" 2>/dev/null || true
    fi
    if [ "$keep" = yes ]; then
        echo "postfix-e2e: kept $work"
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# In the background, so that a signal to this script runs the trap at once, not after the helper.
.venv/bin/python scripts/postfix_e2e.py --work "$work" &
helper=$!
status=0
wait "$helper" || status=$?
helper=
exit "$status"
