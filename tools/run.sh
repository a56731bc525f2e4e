#!/usr/bin/env bash
# Installs what is missing, builds, and runs elife-pmd in the foreground on
# the session bus. Without a session bus, starts a private one and prints
# the address to use with `busctl --address=…` or `gdbus … --address …`.
set -euo pipefail
cd "$(dirname "$0")/.."

tools/deps.sh
[ -f build/build.ninja ] || meson setup build
meson compile -C build

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
