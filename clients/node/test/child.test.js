// Code running under the daemon: onstopping() through the package, a child
// that registers it still exits by itself, and ready()/watchdog() on the
// IPC channel.
'use strict';

const { test, after } = require('node:test');
const assert = require('node:assert/strict');
const childProcess = require('node:child_process');
const path = require('node:path');
const pm = require('..');
const h = require('./helpers');

after(() => pm.close());

test('a child using onstopping: the stop message runs it, and it exits cleanly before SIGTERM', async (t) => {
  const dir = h.tmpdir(t);
  const out = path.join(dir, 'stopping');
  const up = path.join(dir, 'up');
  const script = h.write(path.join(dir, 'server.js'), `
    const fs = require('fs');
    const pm = require(${JSON.stringify(h.PACKAGE)});
    const http = require('http');
    const server = http.createServer().listen(0, () => fs.writeFileSync(${JSON.stringify(up)}, 'up\\n'));
    pm.onstopping(() => {
      fs.writeFileSync(${JSON.stringify(out)}, 'closing\\n');
      server.close(() => process.exit(0));
    });
  `);
  const rec = h.recorder(pm);
  // A long stopTimeout: SIGTERM would come only after 60 s.
  const r = await pm.start({ name: 'onstopping', script, stopTimeout: 60000 });
  await h.waitForFile(up);
  assert.equal(await pm.stop('onstopping'), 1);
  assert.equal(await h.waitForFile(out), 'closing\n');
  const exited = await rec.next('exited', (e) => e.id === r.id);
  assert.equal(exited.exitCode, 0);
  assert.equal(exited.signal, null);
});

test('a child that registers onstopping and finishes its work exits by itself', async (t) => {
  const dir = h.tmpdir(t);
  const out = path.join(dir, 'bye');
  const script = h.write(path.join(dir, 'job.js'), `
    const pm = require(${JSON.stringify(h.PACKAGE)});
    pm.onstopping(() => require('fs').writeFileSync(${JSON.stringify(out)}, 'at exit\\n'));
    setTimeout(() => {}, 10);   // some work, then nothing left
  `);
  const cb = h.callbackRecorder();
  const r = await pm.start({ name: 'finishes', script, restart: 'never' }, cb);
  assert.deepEqual(await cb.next(), [null, r.pid]);
  assert.deepEqual(await cb.next('clean exit'), []);
  assert.equal(await h.waitForFile(out), 'at exit\n');
  await pm.stop('finishes');
  // Without a daemon (no IPC channel) the same: called at exit.
  require('node:fs').rmSync(out);
  const plain = await h.runNode([script]);
  assert.equal(plain.code, 0, plain.stderr);
  assert.equal(await h.waitForFile(out), 'at exit\n');
});

test('onstopping leaves the app\'s own message listener keeping the channel open', async (t) => {
  const dir = h.tmpdir(t);
  const script = h.write(path.join(dir, 'listens.js'), `
    const pm = require(${JSON.stringify(h.PACKAGE)});
    pm.onstopping(() => {});
    process.on('message', (m) => { if (m === 'bye') process.exit(7); });
    process.send('listening');
  `);
  const child = childProcess.fork(script, [], { stdio: 'inherit' });
  const exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
  child.on('error', () => {});   // a send to a child gone early: its exit code says so
  // It waits for our message instead of exiting by itself (code 0): 7 only
  // comes from the message.
  await h.withTimeout(new Promise((resolve) => child.once('message', resolve)), 'listening');
  child.send('bye');
  assert.equal(await h.withTimeout(exited, 'exit after bye'), 7);
});

test('onstopping runs each function once', async (t) => {
  const code = `
    const pm = require(${JSON.stringify(h.PACKAGE)});
    let n = 0;
    pm.onstopping(() => { n++; });
    pm.onstopping(() => { n += 10; });
    process.on('exit', () => console.log(n));
  `;
  const r = await h.runNode(['-e', code]);
  assert.equal(r.stdout.trim(), '11');
});

test('onstopping opens no D-Bus connection', async () => {
  const code = `
    process.env.ELIFE_PM_ADDRESS = 'unix:path=/nonexistent';
    const pm = require(${JSON.stringify(h.PACKAGE)});
    pm.onstopping(() => {});
    const sockets = process._getActiveHandles().filter((x) => x.constructor.name === 'Socket' && !x._isStdio && x.remoteAddress === undefined && x._handle && x._handle.constructor.name === 'Pipe');
    console.log(sockets.length);
  `;
  const r = await h.runNode(['-e', code]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), '0');
});

test('ready() and watchdog() send their messages on the IPC channel', async (t) => {
  const dir = h.tmpdir(t);
  const script = h.write(path.join(dir, 'svc.js'), `
    const pm = require(${JSON.stringify(h.PACKAGE)});
    const a = pm.ready();
    const b = pm.watchdog();
    process.send({ sent: [a, b] });
    process.disconnect();
  `);
  const child = childProcess.fork(script, [], { stdio: 'inherit' });
  const messages = [];
  await h.withTimeout(new Promise((resolve) => {
    child.on('message', (m) => messages.push(m));
    child.on('exit', resolve);
  }), 'forked child');
  assert.deepEqual(messages, ['ready', 'watchdog', { sent: [true, true] }]);
  // Without a channel: nothing to send on, false.
  const r = await h.runNode(['-e', `const pm = require(${JSON.stringify(h.PACKAGE)}); console.log(pm.ready(), pm.watchdog())`]);
  assert.equal(r.stdout.trim(), 'false false');
});
