#!/bin/bash
# Runs the tests of the npm package clients/node (@elife/pm): installs its one
# dependency with `npm ci` when node_modules is missing, starts a private
# dbus-daemon and $ELIFE_PMD on it, runs `node --test` on clients/node/test/,
# then packs the package with `npm pack`, installs the tarball into a temp
# dir and runs one start/stop through it. Cleans up only what it started.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
pkg="$(cd "$here/../../clients/node" && pwd)"
pmd="${ELIFE_PMD:-$here/../../build/src/elife-pmd}"
case "$pmd" in /*) ;; *) pmd="$(pwd)/$pmd" ;; esac

cd "$pkg"
if [ ! -d node_modules/dbus-next ]; then
  echo "client.sh: installing dbus-next (npm ci)" >&2
  npm ci --no-audit --no-fund >&2
fi

tmp="$(mktemp -d "${TMPDIR:-/tmp}/elife-pm-client-XXXXXX")"
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

# shellcheck source=../../tools/private-bus.sh
. "$here/../../tools/private-bus.sh"
if ! start_private_bus "$tmp"; then
  echo "client.sh: dbus-daemon did not print its address" >&2
  exit 1
fi
address=$bus_address
echo "client.sh: private bus at $address" >&2

# ELIFE_PMD_WRAPPER (valgrind, from meson test --setup=valgrind) is
# word-split on purpose.
# shellcheck disable=SC2086
(cd "$tmp" && exec ${ELIFE_PMD_WRAPPER:-} "$pmd" --address "$address" --verbose \
   --state-dir "$tmp/.state") >"$tmp/pmd.log" 2>&1 &
pmd_pid=$!
# The tests expect the daemon there (under valgrind it takes seconds).
if ! gdbus wait --address "$address" --timeout $((30 * ${ELIFE_PM_TEST_SLOW:-1})) \
     org.elife.ProcessManager; then
  echo "client.sh: elife-pmd did not take its name" >&2
  cat "$tmp/pmd.log" >&2
  exit 1
fi

# The tests find the daemon (for the buses they start themselves) in
# ELIFE_PM_TEST_PMD; the client itself must not start one unasked.
export ELIFE_PM_ADDRESS="$address"
export ELIFE_PM_TEST_PMD="$pmd"
unset ELIFE_PMD DBUS_SESSION_BUS_ADDRESS
status=0
# One file at a time: they share the daemon, and some count its processes.
node --test --test-concurrency=1 test/*.test.js || status=$?

# The packed tarball installs and works from another directory.
if [ "$status" -eq 0 ]; then
  mkdir "$tmp/pack" "$tmp/app"
  tarball=$(npm pack --silent --pack-destination "$tmp/pack" | tail -n 1)
  echo "client.sh: packed $tarball" >&2
  (cd "$tmp/app" && npm init -y >/dev/null && \
     npm install --no-audit --no-fund --prefer-offline "$tmp/pack/$tarball" >&2) || status=1
  if [ "$status" -eq 0 ]; then
    cat > "$tmp/app/smoke.js" <<'JS'
'use strict';
const assert = require('node:assert/strict');
const pm = require('@elife/pm');
(async () => {
  const files = require('@elife/pm/package.json').files;
  assert.ok(files.includes('index.d.ts'));
  const { id, pid } = await pm.start({ name: 'packed', script: '/bin/sleep', args: ['600'] });
  assert.ok(id > 0 && pid > 0);
  assert.deepEqual((await pm.list()).filter((p) => p.name === 'packed').map((p) => p.state), ['running']);
  assert.equal(await pm.stop('packed'), 1);
  await pm.close();
  console.log('packed tarball: start/stop ok');
})().catch((err) => { console.error(err); process.exit(1); });
JS
    (cd "$tmp/app" && timeout 60 node smoke.js) || status=1
  fi
fi

if ! kill -0 "$pmd_pid" 2>/dev/null; then
  echo "client.sh: elife-pmd died during the test" >&2
  cat "$tmp/pmd.log" >&2
  status=1
else
  kill -TERM "$pmd_pid"
  pmd_status=0
  wait "$pmd_pid" || pmd_status=$?
  pmd_pid=""
  if [ "$pmd_status" -ne 0 ]; then
    echo "client.sh: elife-pmd exited $pmd_status on SIGTERM" >&2
    status=1
  fi
fi
[ "$status" -eq 0 ] || tail -n 50 "$tmp/pmd.log" >&2
exit "$status"
