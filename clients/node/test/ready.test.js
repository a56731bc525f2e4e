// Readiness, the watchdog and log rotation through the package against the
// real daemon: start() resolves once the child is ready (pm.ready() on the
// IPC channel, or a line matching readyPattern), a child calling
// pm.watchdog() is left alone, StartTimeout and StartFailed are PmErrors
// with those codes, a readiness longer than the 25 s that D-Bus libraries
// often default to still resolves, and logMaxBytes/logBackups reach the
// daemon (LogRotations grows, the backups are bounded).
'use strict';

const { test, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const dbus = require('dbus-next');
const pm = require('..');
const { PmError } = require('..');
const h = require('./helpers');

after(() => pm.close());

const PM = 'org.elife.ProcessManager.Error.';

// A property of a process object, read on a connection of our own.
async function property(id, name) {
  const bus = dbus.sessionBus({ busAddress: h.address() });
  try {
    const reply = await bus.call(new dbus.Message({
      destination: 'org.elife.ProcessManager', path: `/org/elife/ProcessManager/process/${id}`,
      interface: 'org.freedesktop.DBus.Properties', member: 'Get', signature: 'ss',
      body: ['org.elife.ProcessManager.Process', name],
    }));
    return reply.body[0].value;
  } finally {
    bus.disconnect();
  }
}

async function listed(id) {
  return (await pm.list()).find((p) => p.id === id);
}

// A node child that writes @marker after @delayMs, then calls pm.ready().
function readyChild(dir, marker, delayMs) {
  return h.write(path.join(dir, 'svc.js'), `
    const fs = require('fs');
    const pm = require(${JSON.stringify(h.PACKAGE)});
    setTimeout(() => {
      fs.writeFileSync(${JSON.stringify(marker)}, 'ready\\n');
      pm.ready();
    }, ${delayMs});
    setInterval(() => {}, 1000);
  `);
}

test("ready: 'message' — start() resolves only once the child called pm.ready()", async (t) => {
  const dir = h.tmpdir(t);
  const marker = path.join(dir, 'marker');
  const script = readyChild(dir, marker, 500);
  const rec = h.recorder(pm);
  const r = await pm.start({ name: 'ready-message', script, ready: 'message' });
  // The marker is written before pm.ready(): it exists by the time Start answers.
  assert.ok(fs.existsSync(marker), 'start() resolved before the child was ready');
  assert.ok(r.id > 0 && r.pid > 0);
  const started = await rec.next('started', (e) => e.id === r.id);
  assert.equal(started.pid, r.pid);
  assert.equal((await listed(r.id)).state, 'running');
  assert.equal(await pm.stop(r.id), 1);
});

test("ready: 'line' with readyPattern — start() resolves once the line is printed", async (t) => {
  const dir = h.tmpdir(t);
  const marker = path.join(dir, 'marker');
  const script = h.write(path.join(dir, 'svc.sh'), `#!/bin/sh
echo booting
sleep 0.5
echo ready > "${marker}"
echo "listening on 8080"
exec sleep 1000
`, 0o755);
  const r = await pm.start({
    name: 'ready-line', script, ready: 'line', readyPattern: '^listening on \\d+$',
    log: path.join(dir, 'svc.log'),
  });
  assert.ok(fs.existsSync(marker), 'start() resolved before the line');
  assert.equal((await listed(r.id)).state, 'running');
  assert.equal(await pm.stop('ready-line'), 1);
});

test('watchdog: a child calling pm.watchdog() more often than watchdogTimeout keeps running', async (t) => {
  const dir = h.tmpdir(t);
  const pings = path.join(dir, 'pings');
  const script = h.write(path.join(dir, 'dog.js'), `
    const fs = require('fs');
    const pm = require(${JSON.stringify(h.PACKAGE)});
    pm.ready();
    let n = 0;
    setInterval(() => { pm.watchdog(); fs.writeFileSync(${JSON.stringify(pings)}, String(++n)); }, 100);
  `);
  const rec = h.recorder(pm);
  const r = await pm.start({ name: 'watched', script, ready: 'message', watchdogTimeout: 1500, stopTimeout: 500 });
  // Many timeouts' worth of pings, counted by the child (not by the clock).
  const count = () => {
    try {
      return Number(fs.readFileSync(pings, 'utf8')) || 0;
    } catch {
      return 0;
    }
  };
  await h.waitFor(() => count() >= 60, '60 watchdog pings', { dir });
  const p = await listed(r.id);
  assert.equal(p.state, 'running');
  assert.equal(p.pid, r.pid);
  assert.equal(p.restarts, 0);
  assert.ok(!rec.seen.some((e) => e.id === r.id && (e.kind === 'stopping' || e.kind === 'exited')),
    'the watchdog acted on a child that pings');
  assert.equal(await pm.stop('watched'), 1);
});

test('StartTimeout: a child never ready rejects with a PmError of code StartTimeout, nothing left', async (t) => {
  const dir = h.tmpdir(t);
  const script = h.write(path.join(dir, 'mute.sh'), '#!/bin/sh\necho booting\nexec sleep 1000\n', 0o755);
  const cb = h.callbackRecorder();
  const rec = h.recorder(pm);
  const p = pm.start({ name: 'never-ready', script, ready: 'line', readyPattern: '^up$', startTimeout: 500, stopTimeout: 200 }, cb);
  await assert.rejects(p, (err) => {
    assert.ok(err instanceof PmError, `a PmError, got ${err}`);
    assert.equal(err.code, 'StartTimeout');
    assert.equal(err.dbusName, `${PM}StartTimeout`);
    assert.match(err.message, /500 ms/);
    return true;
  });
  // The callback of the original contract hears the same error.
  const [err] = await cb.next('callback with the error');
  assert.equal(err.code, 'StartTimeout');
  const started = await rec.next('started', (e) => e.name === 'never-ready');
  await h.waitFor(() => !h.pidAlive(started.pid), `pid ${started.pid} gone`);
  assert.ok(!(await pm.list()).some((x) => x.name === 'never-ready'));
});

test('StartFailed: a child exiting before it is ready rejects with code StartFailed', async (t) => {
  const dir = h.tmpdir(t);
  const script = h.write(path.join(dir, 'quits.js'), 'process.exit(3);\n');
  await assert.rejects(pm.start({ name: 'quits', script, ready: 'message' }), (err) => {
    assert.ok(err instanceof PmError, `a PmError, got ${err}`);
    assert.equal(err.code, 'StartFailed');
    assert.equal(err.dbusName, `${PM}StartFailed`);
    assert.match(err.message, /code 3/);
    return true;
  });
  assert.ok(!(await pm.list()).some((x) => x.name === 'quits'));
});

test('a readiness that takes longer than 25 s: start() still resolves (no short call timeout)', { timeout: 120000 * h.SLOW }, async (t) => {
  const dir = h.tmpdir(t);
  const marker = path.join(dir, 'marker');
  // GDBus and libdbus give up on a reply after 25 s by default.
  const script = readyChild(dir, marker, 27000);
  const r = await pm.start({ name: 'slow-ready', script, ready: 'message', startTimeout: 90000 });
  assert.ok(fs.existsSync(marker));
  assert.equal((await listed(r.id)).state, 'running');
  assert.equal(await pm.stop('slow-ready'), 1);
});

test('logMaxBytes and logBackups reach the daemon: LogRotations grows, two backups kept', async (t) => {
  const dir = h.tmpdir(t);
  const log = path.join(dir, 'rot.log');
  const script = h.write(path.join(dir, 'chatty.js'), `
    let n = 0;
    setInterval(() => {
      for (let i = 0; i < 10; i++) console.log('line ' + String(++n).padStart(6, '0') + ' ' + '.'.repeat(40));
    }, 20);
  `);
  const r = await pm.start({ name: 'rotating', script, log, logMaxBytes: 2048, logBackups: 2 });
  assert.equal(typeof await property(r.id, 'LogRotations'), 'bigint');
  let rotations = 0n;
  for (const want of [1n, 3n]) {
    const deadline = Date.now() + h.TIMEOUT_MS;
    while ((rotations = await property(r.id, 'LogRotations')) < want) {
      assert.ok(Date.now() < deadline, `LogRotations stayed at ${rotations}, below ${want}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  assert.equal(await pm.stop('rotating'), 1);
  for (const f of [log, `${log}.1`, `${log}.2`]) {
    assert.ok(fs.statSync(f).size <= 2048, `${f} within logMaxBytes`);
  }
  assert.ok(!fs.existsSync(`${log}.3`), 'no third backup');
});
