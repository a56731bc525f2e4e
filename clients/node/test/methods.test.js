// Every method and alias of the client against the real daemon: start,
// stop/restart by name and by id, stopAll/stopall, list, the aliases
// stopByName/restartByName, detached use, connect(), stopWithCaller's default
// and the events.
'use strict';

const { test, after } = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const pm = require('..');
const h = require('./helpers');

after(() => pm.close());

const SLEEP = { script: '/bin/sleep', args: ['600'] };
let serial = 0;
const unique = (what) => `methods-${what}-${process.pid}-${++serial}`;

async function entries(name) {
  return (await pm.list()).filter((p) => p.name === name);
}

async function waitDead(pid) {
  await h.waitFor(() => !h.pidAlive(pid), `pid ${pid} gone`, { emitters: [pm], events: ['exited'] });
}

test('start resolves { id, name, pid } of a running process', async () => {
  const name = unique('start');
  const r = await pm.start({ ...SLEEP, name });
  assert.equal(r.name, name);
  assert.ok(Number.isInteger(r.id) && r.id > 0);
  assert.ok(h.pidAlive(r.pid));
  assert.deepEqual(await entries(name), [{ id: r.id, name, pid: r.pid, state: 'running', restarts: 0 }]);
  assert.equal(await pm.stop(name), 1);
  await waitDead(r.pid);
});

test('start of an unnamed process: name ""', async () => {
  const r = await pm.start(SLEEP);
  assert.equal(r.name, '');
  assert.equal(await pm.stop(r.id), 1);
});

test('list gives { id, name, pid, state, restarts } for every process', async () => {
  const name = unique('list');
  const a = await pm.start({ ...SLEEP, name });
  const b = await pm.start({ ...SLEEP, name });
  const got = await entries(name);
  assert.deepEqual(got.map((p) => p.id), [a.id, b.id]);
  for (const p of got) assert.deepEqual(Object.keys(p), ['id', 'name', 'pid', 'state', 'restarts']);
  assert.equal(await pm.stop(name), 2);
  assert.deepEqual(await entries(name), []);
});

test('stop by name stops every process of that name', async () => {
  const name = unique('stop-name');
  const a = await pm.start({ ...SLEEP, name });
  const b = await pm.start({ ...SLEEP, name });
  assert.equal(await pm.stop(name), 2);
  await waitDead(a.pid);
  await waitDead(b.pid);
});

test('stop by id stops that one only', async () => {
  const name = unique('stop-id');
  const a = await pm.start({ ...SLEEP, name });
  const b = await pm.start({ ...SLEEP, name });
  assert.equal(await pm.stop(a.id), 1);
  await waitDead(a.pid);
  assert.deepEqual((await entries(name)).map((p) => p.id), [b.id]);
  assert.ok(h.pidAlive(b.pid));
  await pm.stop(name);
});

test('restart by name: every process, new pids, same ids', async () => {
  const name = unique('restart-name');
  const a = await pm.start({ ...SLEEP, name });
  const b = await pm.start({ ...SLEEP, name });
  assert.equal(await pm.restart(name), 2);
  const now = await entries(name);
  assert.deepEqual(now.map((p) => p.id), [a.id, b.id]);
  assert.ok(now.every((p) => p.state === 'running' && ![a.pid, b.pid].includes(p.pid)));
  await pm.stop(name);
});

test('restart by id: that one only', async () => {
  const name = unique('restart-id');
  const a = await pm.start({ ...SLEEP, name });
  const b = await pm.start({ ...SLEEP, name });
  assert.equal(await pm.restart(b.id), 1);
  const now = await entries(name);
  assert.equal(now[0].pid, a.pid);
  assert.notEqual(now[1].pid, b.pid);
  await pm.stop(name);
});

test('aliases of the original module: stopByName, restartByName, stopall', async () => {
  assert.equal(pm.stopByName, pm.stop);
  assert.equal(pm.restartByName, pm.restart);
  assert.equal(pm.stopall, pm.stopAll);
  const name = unique('alias');
  const a = await pm.start({ ...SLEEP, name });
  assert.equal(await pm.restartByName(name), 1);
  assert.notEqual((await entries(name))[0].pid, a.pid);
  assert.equal(await pm.stopByName(name), 1);
  assert.deepEqual(await entries(name), []);
});

test('stopAll and stopall stop everything and give the count', async () => {
  const name = unique('all');
  const a = await pm.start({ ...SLEEP, name });
  await pm.start({ ...SLEEP, name });
  const before = (await pm.list()).length;
  assert.equal(await pm.stopAll(), before);
  assert.deepEqual(await pm.list(), []);
  await waitDead(a.pid);
  await pm.start({ ...SLEEP, name });
  assert.equal(await pm.stopall(), 1);
  assert.equal(await pm.stopall(), 0);
});

test('node-style callbacks on stop, restart, stopAll', async () => {
  const name = unique('cb');
  await pm.start({ ...SLEEP, name });
  const call = (fn, ...args) => new Promise((resolve) => fn(...args, (err, n) => resolve([err, n])));
  assert.deepEqual(await call(pm.restart, name), [null, 1]);
  assert.deepEqual(await call(pm.stop, name), [null, 1]);
  const [err] = await call(pm.stop, name);
  assert.equal(err.code, 'NotFound');
  await pm.start({ ...SLEEP, name });
  assert.deepEqual(await call(pm.stopAll), [null, 1]);
});

test('methods work detached from the client (const { start } = pm)', async () => {
  const { start, stop, list } = pm;
  const name = unique('detached');
  const r = await start({ ...SLEEP, name });
  assert.ok((await list()).some((p) => p.id === r.id));
  assert.equal(await stop(name), 1);
});

test('connect() makes another client; address and bus are checked', async () => {
  const other = pm.connect({ address: h.address() });
  assert.notEqual(other, pm);
  const name = unique('connect');
  const r = await other.start({ ...SLEEP, name });
  assert.ok((await pm.list()).some((p) => p.id === r.id));
  assert.equal(await pm.stop(r.id), 1);
  await other.close();
  await assert.rejects(pm.connect({ bus: 'nope' }).list(), { code: 'InvalidArgs', message: /bus/ });
});

test('events: started, stopping, exited with ids, names, pids and how it ended', async () => {
  const rec = h.recorder(pm);
  const name = unique('events');
  const r = await pm.start({ ...SLEEP, name, stopTimeout: 100 });
  assert.deepEqual(await rec.next('started', (e) => e.id === r.id),
    { kind: 'started', id: r.id, name, pid: r.pid, taken: true });
  await pm.stop(name);
  const stopping = await rec.next('stopping', (e) => e.id === r.id);
  assert.equal(stopping.pid, r.pid);
  const exited = await rec.next('exited', (e) => e.id === r.id);
  assert.deepEqual({ ...exited, taken: undefined },
    { kind: 'exited', id: r.id, name, pid: r.pid, exitCode: null, signal: 'SIGTERM', taken: undefined });
  // A process that exits by itself: exitCode, no signal.
  const e2 = await pm.start({ script: '/bin/sh', args: ['-c', 'exit 7'], name, restart: 'never' });
  const ex2 = await rec.next('exited', (e) => e.id === e2.id);
  assert.equal(ex2.exitCode, 7);
  assert.equal(ex2.signal, null);
  await pm.stop(name);
});

test('events flow for processes other clients started', async () => {
  const rec = h.recorder(pm);
  const other = pm.connect({ address: h.address() });
  const name = unique('others');
  const r = await other.start({ ...SLEEP, name });
  await rec.next('started', (e) => e.id === r.id);
  await other.stop(name);
  await rec.next('exited', (e) => e.id === r.id);
  await other.close();
});

test('stopWithCaller is true by default: the services die with the app', async (t) => {
  const dir = h.tmpdir(t);
  const app = h.write(path.join(dir, 'app.js'), `
    const pm = require(${JSON.stringify(h.PACKAGE)});
    pm.start({ script: '/bin/sleep', args: ['600'], name: process.argv[2],
               ...(process.argv[3] ? { stopWithCaller: false } : {}) })
      .then((r) => { console.log(r.pid); process.exit(0); });   // no stop, no close
  `);
  const withCaller = await h.runNode([app, unique('caller')]);
  assert.equal(withCaller.code, 0, withCaller.stderr);
  await waitDead(Number(withCaller.stdout));

  const name = unique('no-caller');
  const without = await h.runNode([app, name, 'keep']);
  assert.equal(without.code, 0, without.stderr);
  const pid = Number(without.stdout);
  // Still listed and running after the app left (a round trip later).
  assert.deepEqual((await entries(name)).map((p) => [p.pid, p.state]), [[pid, 'running']]);
  assert.equal(await pm.stop(name), 1);
});
