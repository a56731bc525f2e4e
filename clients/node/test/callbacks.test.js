// The original module's callback contract: callback(null, pid) once the
// process runs and after every automatic restart with the new pid;
// callback(err) when it cannot start or exits abnormally (.exitCode,
// .signal); callback() when it exits 0 with no restart due; nothing for the
// exits a stop or restart asked for.
'use strict';

const { test, after } = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const pm = require('..');
const { PmError } = require('..');
const h = require('./helpers');

after(() => pm.close());

let serial = 0;
const unique = (what) => `cb-${what}-${process.pid}-${++serial}`;

// After a round trip to the daemon every signal sent before has arrived.
const settle = () => pm.list();

test('callback(null, pid) once the process runs', async () => {
  const cb = h.callbackRecorder();
  const name = unique('runs');
  const r = await pm.start({ script: '/bin/sleep', args: ['600'], name }, cb);
  assert.deepEqual(await cb.next(), [null, r.pid]);
  await pm.stop(name);
  await settle();
  assert.equal(cb.calls.length, 1, 'a stop that was asked for calls nothing');
});

test('a crash: callback(err) with exitCode, then callback(null, newPid) after the restart', async (t) => {
  const dir = h.tmpdir(t);
  // Crashes the first time, runs the second.
  const script = h.write(path.join(dir, 'crash-once.sh'),
    `#!/bin/sh\nif [ -e ${dir}/ran ]; then exec sleep 600; fi\ntouch ${dir}/ran\nexit 3\n`, 0o755);
  const cb = h.callbackRecorder();
  const name = unique('crash');
  const r = await pm.start({ script, name, restartAt: [50] }, cb);
  assert.deepEqual(await cb.next(), [null, r.pid]);
  const [err] = await cb.next('error callback');
  assert.ok(err instanceof Error);
  assert.equal(err.exitCode, 3);
  assert.equal(err.signal, null);
  assert.equal(err.pid, r.pid);
  assert.equal(err.id, r.id);
  assert.match(err.message, /exited with code 3/);
  const [nothing, pid] = await cb.next('restart callback');
  assert.equal(nothing, null);
  assert.notEqual(pid, r.pid);
  assert.ok(h.pidAlive(pid));
  assert.equal((await pm.list()).find((p) => p.id === r.id).restarts, 1);
  await pm.stop(name);
  await settle();
  assert.equal(cb.calls.length, 3);
});

test('killed by a signal: callback(err) with .signal and exitCode null', async () => {
  const cb = h.callbackRecorder();
  const name = unique('killed');
  const r = await pm.start({ script: '/bin/sh', args: ['-c', 'kill -KILL $$'], name, restart: 'never' }, cb);
  const first = await cb.next();
  // The child may be gone before the Start reply: the pid is still its own.
  assert.deepEqual(first, [null, r.pid]);
  const [err] = await cb.next('error callback');
  assert.equal(err.signal, 'SIGKILL');
  assert.equal(err.exitCode, null);
  assert.match(err.message, /killed by SIGKILL/);
  await pm.stop(name);
});

test('a clean exit with no restart due: callback() with no arguments', async () => {
  for (const opts of [{ restart: 'never' }, { restart: 'on-failure' }, { restartAt: [] }, { restartAt: [0] }]) {
    const cb = h.callbackRecorder();
    const name = unique('clean');
    const r = await pm.start({ script: '/bin/true', name, ...opts }, cb);
    assert.deepEqual(await cb.next(), [null, r.pid]);
    assert.deepEqual(await cb.next(`clean exit with ${JSON.stringify(opts)}`), []);
    await pm.stop(name);
    await settle();
    assert.equal(cb.calls.length, 2);
  }
});

test('a clean exit with a restart due: nothing, then callback(null, newPid)', async (t) => {
  const dir = h.tmpdir(t);
  const script = h.write(path.join(dir, 'exit0-once.sh'),
    `#!/bin/sh\nif [ -e ${dir}/ran ]; then exec sleep 600; fi\ntouch ${dir}/ran\nexit 0\n`, 0o755);
  const cb = h.callbackRecorder();
  const name = unique('exit0-restart');
  const r = await pm.start({ script, name, restartAt: [50] }, cb);
  assert.deepEqual(await cb.next(), [null, r.pid]);
  const [err, pid] = await cb.next('restart callback');
  assert.equal(err, null);
  assert.notEqual(pid, r.pid);
  await pm.stop(name);
});

test('a failed start: callback(err) with the PmError, and the promise rejects', async () => {
  const cb = h.callbackRecorder();
  const p = pm.start({ script: '/nonexistent/app.js', name: unique('fail') }, cb);
  await assert.rejects(p, { code: 'SpawnFailed' });
  const [err] = await cb.next();
  assert.ok(err instanceof PmError);
  assert.equal(err.code, 'SpawnFailed');
  assert.equal(cb.calls.length, 1);
});

test('a refused option: callback(err) with InvalidArgs, before any call', async () => {
  const cb = h.callbackRecorder();
  const before = (await pm.list()).length;
  const p = pm.start({ script: 'a.js', colour: 'red' }, cb);
  const [err] = await cb.next();
  assert.equal(err.code, 'InvalidArgs');
  await assert.rejects(p, { code: 'InvalidArgs', message: /colour/ });
  assert.equal((await pm.list()).length, before);
});

test('with a callback, a failed start is no unhandled rejection', async () => {
  const code = `
    const pm = require(${JSON.stringify(h.PACKAGE)});
    process.on('unhandledRejection', () => { console.log('unhandled'); process.exit(2); });
    pm.start({ script: '/nonexistent' }, (err) => { console.log(err.code); pm.close(); });
  `;
  const r = await h.runNode(['-e', code]);
  assert.equal(r.stdout.trim(), 'SpawnFailed');
  assert.equal(r.code, 0, r.stderr);
});

test('a manual restart: no error callback for the asked-for exit, the new pid reported', async () => {
  const cb = h.callbackRecorder();
  const name = unique('manual');
  const r = await pm.start({ script: '/bin/sleep', args: ['600'], name }, cb);
  assert.deepEqual(await cb.next(), [null, r.pid]);
  assert.equal(await pm.restart(name), 1);
  const [err, pid] = await cb.next('after restart');
  assert.equal(err, null);
  assert.notEqual(pid, r.pid);
  await pm.stop(name);
  await settle();
  assert.equal(cb.calls.length, 2);
});
