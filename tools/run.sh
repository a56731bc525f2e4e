#!/usr/bin/env bash
# Installs what is missing, builds, and runs elife-pmd in the foreground on
# the session bus. Without a session bus, starts a private one and prints
# the address to use with `busctl --address=…` or `gdbus … --address …`.
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

tools/deps.sh
[ -f build/build.ninja ] || meson setup build
meson compile -C build

if $system; then
  tmp=$(mktemp -d)
  # Every user's clients must reach the socket.
  chmod 755 "$tmp"
  sed -e "s|@DIR@|$tmp|g" -e "s|@POLICY@|$PWD/data/org.elife.ProcessManager.conf|g" \
    tools/system-bus.conf.in > "$tmp/bus.conf"
  mkfifo "$tmp/bus.address"
  dbus-daemon --config-file="$tmp/bus.conf" --nofork --print-address=3 3>"$tmp/bus.address" &
  bus_pid=$!
  # Each step on its own: one that fails must not skip the others.
  trap 'kill "$bus_pid" 2>/dev/null || true; rm -rf "$tmp" || true' EXIT
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
  build/src/elife-pmd --address "$bus_address" --state-dir "$tmp/state" "$@" &
  pmd=$!
  trap 'kill -TERM "$pmd" 2>/dev/null || true; wait "$pmd" || true; kill "$bus_pid" 2>/dev/null || true; rm -rf "$tmp" || true' EXIT INT TERM
  wait "$pmd"
  exit
fi

if [ -z "${DBUS_SESSION_BUS_ADDRESS:-}" ]; then
  tmp=$(mktemp -d)
  . tools/private-bus.sh
  trap 'kill "$bus_pid" 2>/dev/null; rm -rf "$tmp"' EXIT
  start_private_bus "$tmp" || { echo "dbus-daemon gave no address" >&2; exit 1; }
  export DBUS_SESSION_BUS_ADDRESS=$bus_address
  echo "No session bus: started a private one. Use it with:"
  echo "  busctl --address=$DBUS_SESSION_BUS_ADDRESS list"
  echo "  export DBUS_SESSION_BUS_ADDRESS='$DBUS_SESSION_BUS_ADDRESS'"
  build/src/elife-pmd --session "$@" &
  pmd=$!
  trap 'kill -TERM "$pmd" 2>/dev/null; wait "$pmd"; kill "$bus_pid" 2>/dev/null; rm -rf "$tmp"' EXIT INT TERM
  wait "$pmd"
else
  exec build/src/elife-pmd --session "$@"
fi
