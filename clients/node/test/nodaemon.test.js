// No daemon on the bus: NoDaemon with a message saying what to do; the
// daemon started from `daemon` or ELIFE_PMD with --address; no bus at all.
'use strict';

const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const dbus = require('dbus-next');
const pm = require('..');
const h = require('./helpers');

// The pid of the name's owner on @address.
async function ownerPid(address) {
  const bus = dbus.sessionBus({ busAddress: address });
  try {
    const reply = await bus.call(new dbus.Message({
      destination: 'org.freedesktop.DBus', path: '/org/freedesktop/DBus', interface: 'org.freedesktop.DBus',
      member: 'GetConnectionUnixProcessID', signature: 's', body: ['org.elife.ProcessManager'],
    }));
    return reply.body[0];
  } finally {
    bus.disconnect();
  }
}

// Stops a daemon a client started: it exits when its bus goes away.
async function stopStartedDaemon(bus, pid) {
  await bus.stop();
  await h.waitFor(() => !h.pidAlive(pid), `started daemon ${pid} exits with its bus`);
}

test('nobody owns the name and the bus cannot start it: NoDaemon, saying what to do', async (t) => {
  const bus = await h.startBus(t);
  const client = pm.connect({ address: bus.address });
  t.after(() => client.close());
  await assert.rejects(client.start({ script: '/bin/true' }), (err) => {
    assert.equal(err.code, 'NoDaemon');
    assert.match(err.message, /org\.elife\.ProcessManager/);
    assert.match(err.message, new RegExp(bus.address.split(',')[0].replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
    assert.match(err.message, /ELIFE_PMD/);
    assert.match(err.message, /daemon/);
    return true;
  });
  // list() and the rest say the same.
  await assert.rejects(client.list(), { code: 'NoDaemon' });
});

test('connect({ daemon }) starts it with --address and waits for the name', async (t) => {
  const bus = await h.startBus(t);
  const client = pm.connect({ address: bus.address, daemon: h.PMD });
  const r = await client.start({ script: '/bin/sleep', args: ['600'], name: 'started-daemon' });
  assert.ok(h.pidAlive(r.pid));
  assert.deepEqual((await client.list()).map((p) => p.name), ['started-daemon']);
  const pid = await ownerPid(bus.address);
  const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  assert.deepEqual(cmdline.slice(1, 3), ['--address', bus.address]);
  await client.close();
  // stopWithCaller: the service went with the client.
  await h.waitFor(() => !h.pidAlive(r.pid), 'service stopped with its caller');
  await stopStartedDaemon(bus, pid);
});

test('ELIFE_PMD names the daemon to start', async (t) => {
  const bus = await h.startBus(t);
  process.env.ELIFE_PMD = h.PMD;
  t.after(() => { delete process.env.ELIFE_PMD; });
  const client = pm.connect({ address: bus.address });
  assert.deepEqual(await client.list(), []);
  const pid = await ownerPid(bus.address);
  await client.close();
  await stopStartedDaemon(bus, pid);
});

test('a daemon that cannot run: NoDaemon naming it', async (t) => {
  const bus = await h.startBus(t);
  const dir = h.tmpdir(t);
  const broken = h.write(path.join(dir, 'elife-pmd'), '#!/bin/sh\nexit 1\n', 0o755);
  const client = pm.connect({ address: bus.address, daemon: broken });
  t.after(() => client.close());
  await assert.rejects(client.list(), { code: 'NoDaemon', message: /exited with code 1/ });
  const missing = pm.connect({ address: bus.address, daemon: path.join(dir, 'nope') });
  t.after(() => missing.close());
  await assert.rejects(missing.list(), { code: 'NoDaemon', message: /nope/ });
});

test('no bus at the address: NoDaemon naming it', async (t) => {
  const dir = h.tmpdir(t);
  const address = `unix:path=${path.join(dir, 'no-bus')}`;
  const client = pm.connect({ address });
  t.after(() => client.close());
  await assert.rejects(client.list(), { code: 'NoDaemon', message: /no-bus/ });
});

test('ELIFE_PM_ADDRESS picks the default bus', async (t) => {
  const bus = await h.startBus(t);
  const daemon = await h.startDaemon(t, bus.address);
  const code = `
    const pm = require(${JSON.stringify(h.PACKAGE)});
    pm.start({ script: '/bin/sleep', args: ['600'], name: 'via-env' })
      .then(() => pm.list()).then((l) => { console.log(l.map((p) => p.name).join()); return pm.close(); });
  `;
  const r = await h.runNode(['-e', code], { env: { ELIFE_PM_ADDRESS: bus.address } });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'via-env');
  await daemon.stop();
});

test('the bus going away fails a waiting call with NoDaemon instead of leaving it pending', async (t) => {
  const bus = await h.startBus(t);
  const daemon = await h.startDaemon(t, bus.address);
  const client = pm.connect({ address: bus.address });
  t.after(() => client.close());
  const rec = h.recorder(client);
  // The stop waits stopTimeout (8 s) for the first phase: the bus goes first.
  const r = await client.start({ script: '/bin/sleep', args: ['600'], name: 'waiting', stopTimeout: 8000 });
  const stop = client.stop('waiting');
  await rec.next('stopping', (e) => e.id === r.id);
  const failed = assert.rejects(stop, { code: 'NoDaemon', message: /lost/ });
  await bus.stop();
  await failed;
  // The next call connects again, and finds no bus.
  await assert.rejects(client.list(), { code: 'NoDaemon' });
  // The daemon lost its bus: it stops its children and exits 0.
  await daemon.stop();
  assert.equal(h.pidAlive(r.pid), false);
});
