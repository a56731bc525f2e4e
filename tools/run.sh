#!/usr/bin/env bash
# Installs what is missing, builds, and runs elife-pmd in the foreground on
# the session bus. Without a session bus, starts a private one and prints
# the address to use with `busctl --address=…` or `gdbus … --address …`;
# Ctrl-C, or the daemon's own exit, then ends the daemon and that bus.
# ELIFE_PMD=PATH runs that binary instead and skips the install and build
# (tests/run-sh/run.sh does so).
#
# tools/run.sh --system [DAEMON OPTIONS]: as root, starts a private bus
# configured like the system bus (tools/system-bus.conf.in, with the
# project's policy file data/org.elife.ProcessManager.conf) and elife-pmd as
# root on it, for trying the multi-user rules without installing anything.
set -euo pipefail
cd "$(dirname "$0")/.."

system=false
if [ "${1:-}" = --system ]; then
  system=true
  shift
  if [ "$(id -u)" != 0 ]; then
    echo "tools/run.sh --system must run as root (try: sudo tools/run.sh --system)" >&2
    exit 1
  fi
fi

pmd_bin=${ELIFE_PMD:-}
if [ -z "$pmd_bin" ]; then
  tools/deps.sh
  [ -f build/build.ninja ] || meson setup build
  meson compile -C build
  pmd_bin=build/src/elife-pmd
fi

if ! $system && [ -n "${DBUS_SESSION_BUS_ADDRESS:-}" ]; then
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

if $system; then
  # Every user's clients must reach the socket.
  chmod 755 "$tmp"
  sed -e "s|@DIR@|$tmp|g" -e "s|@POLICY@|$PWD/data/org.elife.ProcessManager.conf|g" \
    tools/system-bus.conf.in > "$tmp/bus.conf"
  mkfifo "$tmp/bus.address"
  dbus-daemon --config-file="$tmp/bus.conf" --nofork --print-address=3 3>"$tmp/bus.address" &
  bus_pid=$!
  bus_address=""
  read -r -t 10 bus_address < "$tmp/bus.address" || true
  [ -n "$bus_address" ] || { echo "dbus-daemon gave no address" >&2; exit 1; }
  echo "A private system-like bus, elife-pmd on it as root. Reach it with:"
  echo "  busctl --address=$bus_address tree org.elife.ProcessManager"
  echo "  export DBUS_SYSTEM_BUS_ADDRESS='$bus_address'   # then busctl --system, gdbus --system"
  echo "As another user (their processes run as them):"
  echo "  setpriv --reuid=USER --regid=GROUP --init-groups gdbus call --address '$bus_address' \\"
  echo "    --dest org.elife.ProcessManager --object-path /org/elife/ProcessManager \\"
  echo "    --method org.elife.ProcessManager.Start \"{'script': <'/bin/sleep'>, 'args': <['60']>}\""
  # In the background so that this shell sees Ctrl-C at once (bash runs a
  # trap only between commands, and `wait` returns on a signal).
  "$pmd_bin" --address "$bus_address" --state-dir "$tmp/state" "$@" &
else
  . tools/private-bus.sh
  start_private_bus "$tmp" || { echo "dbus-daemon gave no address" >&2; exit 1; }
  export DBUS_SESSION_BUS_ADDRESS=$bus_address
  echo "No session bus: started a private one. Use it with:"
  echo "  busctl --address=$DBUS_SESSION_BUS_ADDRESS list"
  echo "  export DBUS_SESSION_BUS_ADDRESS='$DBUS_SESSION_BUS_ADDRESS'"
  "$pmd_bin" --session "$@" &
fi
pmd=$!
status=0
wait "$pmd" || status=$?
pmd=""
exit "$status"
