#!/usr/bin/env bash
# Installs what is missing, builds, and runs elife-pmd in the foreground on
# the session bus. Without a session bus, starts a private one and prints
# the address to use with `busctl --address=…` or `gdbus … --address …`;
# Ctrl-C, or the daemon's own exit, then ends the daemon and that bus.
# ELIFE_PMD=PATH runs that binary instead and skips the install and build
# (tests/run-sh/run.sh does so).
set -euo pipefail
cd "$(dirname "$0")/.."

pmd_bin=${ELIFE_PMD:-}
if [ -z "$pmd_bin" ]; then
  tools/deps.sh
  [ -f build/build.ninja ] || meson setup build
  meson compile -C build
  pmd_bin=build/src/elife-pmd
fi

if [ -n "${DBUS_SESSION_BUS_ADDRESS:-}" ]; then
  exec "$pmd_bin" --session "$@"
fi

tmp=$(mktemp -d)
bus_pid=""
pmd=""
# Runs once, whatever ended the script (the daemon's exit, Ctrl-C, SIGTERM,
# a failed command): no `set -e` inside, so a process that is already gone
# cannot stop it half-way. A second Ctrl-C while the daemon stops its
# children kills the daemon; the bus goes in any case.
cleanup () {
  set +e
  trap 'kill -KILL "$pmd" 2>/dev/null' INT TERM HUP
  if [ -n "$pmd" ]; then
    kill -TERM "$pmd" 2>/dev/null
    while kill -0 "$pmd" 2>/dev/null; do wait "$pmd" 2>/dev/null; done
  fi
  if [ -n "$bus_pid" ]; then
    kill -TERM "$bus_pid" 2>/dev/null
    wait "$bus_pid" 2>/dev/null
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

. tools/private-bus.sh
start_private_bus "$tmp" || { echo "dbus-daemon gave no address" >&2; exit 1; }
export DBUS_SESSION_BUS_ADDRESS=$bus_address
echo "No session bus: started a private one. Use it with:"
echo "  busctl --address=$DBUS_SESSION_BUS_ADDRESS list"
echo "  export DBUS_SESSION_BUS_ADDRESS='$DBUS_SESSION_BUS_ADDRESS'"
# In the background so that this shell sees Ctrl-C at once (bash runs a
# trap only between commands, and `wait` returns on a signal).
"$pmd_bin" --session "$@" &
pmd=$!
status=0
wait "$pmd" || status=$?
pmd=""
exit "$status"
