#!/bin/bash
# Runs the tests of the npm package clients/node (@elife/pm): installs its one
# dependency with `npm ci` when node_modules is missing, starts a private
# dbus-daemon and $ELIFE_PMD on it (tests/node/daemon.sh), runs `node --test`
# on clients/node/test/, then packs the package with `npm pack`, installs the
# tarball into a temp dir and runs one start/stop through it. Cleans up only
# what it started.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
pkg="$(cd "$here/../../clients/node" && pwd)"
pmd="${ELIFE_PMD:-$here/../../build/src/elife-pmd}"
case "$pmd" in /*) ;; *) pmd="$(pwd)/$pmd" ;; esac

cd "$pkg"
. "$here/daemon.sh"
node_test_npm client.sh "$pkg"
node_test_start client log

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

node_test_stop client.sh || status=1
[ "$status" -eq 0 ] || tail -n 50 "$tmp/pmd.log" >&2
exit "$status"
