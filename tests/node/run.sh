#!/bin/bash
# Runs the dbus-next test: installs dbus-next if missing, starts a private
# dbus-daemon and $ELIFE_PMD on it (tests/node/daemon.sh), runs `node --test`;
# the daemon must then still be alive and exit 0 on SIGTERM.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
pmd="${ELIFE_PMD:-$here/../../build/src/elife-pmd}"
case "$pmd" in /*) ;; *) pmd="$(pwd)/$pmd" ;; esac
cd "$here"
. "$here/daemon.sh"

node_test_npm run.sh "$here"
# The daemon's own output (and its children's lines) go to stderr: the log.
node_test_start node

export ELIFE_PM_BUS_ADDRESS="$address"
export ELIFE_PM_TEST_DATA="$here/../data"
unset DBUS_SESSION_BUS_ADDRESS
status=0
node --test || status=$?
node_test_stop run.sh || status=1
exit "$status"
