#!/usr/bin/env bash
# Installs what is missing, builds with -Werror, and runs the whole test
# suite (unit tests, integration tests on private buses, the dbus-next
# client test). No session bus is needed: every test starts its own.
set -euo pipefail
cd "$(dirname "$0")/.."

tools/deps.sh
if [ ! -f build/build.ninja ]; then
  meson setup build -Dwerror=true
else
  meson configure build -Dwerror=true
fi
meson compile -C build
meson test -C build --print-errorlogs --num-processes 2 "$@"
