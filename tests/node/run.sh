#!/bin/bash
# Runs the dbus-next test: installs dbus-next if missing, starts a private
# dbus-daemon and $ELIFE_PMD on it, runs `node --test`, and cleans up only
# the processes it started.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
pmd="${ELIFE_PMD:-$here/../../build/src/elife-pmd}"
cd "$here"

if [ ! -d node_modules/dbus-next ]; then
  echo "run.sh: installing dbus-next" >&2
  if [ -f package-lock.json ]; then
    npm ci --no-audit --no-fund >&2
  else
    npm install --no-audit --no-fund >&2
  fi
fi

tmp="$(mktemp -d "${TMPDIR:-/tmp}/elife-pm-node-XXXXXX")"
bus_pid=""
pmd_pid=""

cleanup() {
  local rc=$?
  if [ -n "$pmd_pid" ] && kill -0 "$pmd_pid" 2>/dev/null; then
    kill -TERM "$pmd_pid" 2>/dev/null || true
    wait "$pmd_pid" 2>/dev/null || true
  fi
  if [ -n "$bus_pid" ] && kill -0 "$bus_pid" 2>/dev/null; then
    kill -TERM "$bus_pid" 2>/dev/null || true
    wait "$bus_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
  exit "$rc"
}
trap cleanup EXIT INT TERM

# A private session-type bus that allows everything (as GTestDBus's does).
# shellcheck source=../../tools/private-bus.sh
. "$here/../../tools/private-bus.sh"
if ! start_private_bus "$tmp"; then
  echo "run.sh: dbus-daemon did not print its address" >&2
  exit 1
fi
address=$bus_address
echo "run.sh: private bus at $address" >&2

# The daemon's own output (and its children's lines) go to stderr: the log.
# It runs in the temp dir: its working directory is its children's default cwd.
# ELIFE_PMD_WRAPPER (e.g. valgrind, from meson test --setup=valgrind) is
# word-split on purpose.
# shellcheck disable=SC2086
(cd "$tmp" && exec ${ELIFE_PMD_WRAPPER:-} "$pmd" --address "$address" --verbose \
   --state-dir "$tmp/.state") >&2 &
pmd_pid=$!

export ELIFE_PM_BUS_ADDRESS="$address"
export ELIFE_PM_TEST_DATA="$here/../data"
unset DBUS_SESSION_BUS_ADDRESS
status=0
node --test || status=$?

# The daemon must still be alive, then exit 0 on SIGTERM.
if ! kill -0 "$pmd_pid" 2>/dev/null; then
  echo "run.sh: elife-pmd died during the test" >&2
  status=1
else
  kill -TERM "$pmd_pid"
  pmd_status=0
  wait "$pmd_pid" || pmd_status=$?
  pmd_pid=""
  if [ "$pmd_status" -ne 0 ]; then
    echo "run.sh: elife-pmd exited $pmd_status on SIGTERM" >&2
    status=1
  fi
fi
exit "$status"
