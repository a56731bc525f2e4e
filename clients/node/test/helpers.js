// helpers.js — shared by the test files: the private bus the runner started
// (ELIFE_PM_ADDRESS), extra private buses with or without a daemon, temp
// files, and waits with generous timeouts (scaled by ELIFE_PM_TEST_SLOW).
'use strict';

const assert = require('node:assert/strict');
const childProcess = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const readline = require('node:readline');

const SLOW = Math.max(1, Number(process.env.ELIFE_PM_TEST_SLOW) || 1);
const TIMEOUT_MS = 15000 * SLOW;
const PMD = process.env.ELIFE_PM_TEST_PMD || process.env.ELIFE_PMD ||
  path.join(__dirname, '..', '..', '..', 'build', 'src', 'elife-pmd');
// The client must start a daemon only when a test asks it to.
delete process.env.ELIFE_PMD;

function address() {
  const a = process.env.ELIFE_PM_ADDRESS;
  assert.ok(a, 'ELIFE_PM_ADDRESS must name the private bus (tests/node/client.sh sets it)');
  return a;
}

function tmpdir(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'elife-pm-node-'));
  if (t) t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function write(file, text, mode = 0o644) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text, { mode });
  fs.chmodSync(file, mode);
  return file;
}

function withTimeout(promise, what, ms = TIMEOUT_MS) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

// Resolves once cond() is truthy, checking after each event from @emitters,
// on file changes in @dir, and every 20 ms for what sends no event (a pid
// that dies); fails only after the generous timeout.
function waitFor(cond, what, { emitters = [], events = [], dir = null } = {}) {
  let watcher = null;
  let timer = null;
  let check;
  const done = () => {
    for (const e of emitters) for (const ev of events) e.removeListener(ev, check);
    if (watcher) watcher.close();
    clearInterval(timer);
  };
  return withTimeout(new Promise((resolve) => {
    check = () => {
      const v = cond();
      if (!v) return;
      done();
      resolve(v);
    };
    for (const e of emitters) for (const ev of events) e.on(ev, check);
    if (dir) watcher = fs.watch(dir, check);
    timer = setInterval(check, 20);
    check();
  }), what).finally(done);
}

// The whole content of @file once it exists and ends in a newline.
function waitForFile(file) {
  const read = () => {
    try {
      const text = fs.readFileSync(file, 'utf8');
      return text.endsWith('\n') ? text : null;
    } catch {
      return null;
    }
  };
  return waitFor(read, `file ${file}`, { dir: path.dirname(file) });
}

// Collects a client's events; next(kind, pred) resolves with the first
// matching one not yet taken.
function recorder(client) {
  const seen = [];
  const waiting = [];
  for (const kind of ['started', 'stopping', 'exited']) {
    client.on(kind, (e) => {
      seen.push({ kind, ...e });
      for (const w of waiting.splice(0)) w();
    });
  }
  const find = (kind, pred) => seen.find((e) => e.kind === kind && !e.taken && pred(e));
  return {
    seen,
    next(kind, pred = () => true, what = kind) {
      return withTimeout(new Promise((resolve) => {
        const check = () => {
          const e = find(kind, pred);
          if (e) {
            e.taken = true;
            resolve(e);
          } else waiting.push(check);
        };
        check();
      }), what);
    },
  };
}

// A callback that records its calls; next() resolves with the next one.
function callbackRecorder() {
  const calls = [];
  const waiting = [];
  let taken = 0;
  const cb = (...args) => {
    calls.push(args);
    for (const w of waiting.splice(0)) w();
  };
  cb.calls = calls;
  cb.next = (what = 'callback') => withTimeout(new Promise((resolve) => {
    const check = () => {
      if (calls.length > taken) resolve(calls[taken++]);
      else waiting.push(check);
    };
    check();
  }), what);
  return cb;
}

// A private bus of our own (as tools/private-bus.sh makes): { address, stop }.
async function startBus(t) {
  const dir = tmpdir(t);
  const conf = path.join(dir, 'bus.conf');
  fs.writeFileSync(conf, `<busconfig>
  <type>session</type>
  <listen>unix:dir=${dir}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
`);
  const bus = childProcess.spawn('dbus-daemon', [`--config-file=${conf}`, '--nofork', '--print-address=1'],
    { stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await withTimeout(new Promise((resolve, reject) => {
    readline.createInterface({ input: bus.stdout }).once('line', resolve);
    bus.once('error', reject);
  }), 'dbus-daemon address');
  const exited = new Promise((resolve) => bus.once('exit', resolve));
  const stop = async () => {
    if (bus.exitCode === null && bus.signalCode === null) bus.kill('SIGTERM');
    await exited;
  };
  if (t) t.after(stop);
  return { address: line.trim(), pid: bus.pid, stop, dir };
}

// Resolves once org.elife.ProcessManager has an owner on @busAddress.
async function waitForName(busAddress) {
  const dbus = require('dbus-next');
  const bus = dbus.sessionBus({ busAddress });
  const call = (member, signature, body) => bus.call(new dbus.Message({
    destination: 'org.freedesktop.DBus', path: '/org/freedesktop/DBus',
    interface: 'org.freedesktop.DBus', member, signature, body,
  }));
  try {
    const owned = new Promise((resolve) => bus.on('message', (m) => {
      if (m.member === 'NameOwnerChanged' && m.body[0] === 'org.elife.ProcessManager' && m.body[2]) resolve();
    }));
    await call('AddMatch', 's', ["type='signal',member='NameOwnerChanged',arg0='org.elife.ProcessManager'"]);
    const [has] = (await call('NameHasOwner', 's', ['org.elife.ProcessManager'])).body;
    if (!has) await withTimeout(owned, `org.elife.ProcessManager on ${busAddress}`);
  } finally {
    bus.disconnect();
  }
}

// elife-pmd on @busAddress, once it owns its name: { pid, stop } (stop
// asserts exit 0 on SIGTERM).
async function startDaemon(t, busAddress) {
  const state = tmpdir(t);
  const child = childProcess.spawn(PMD, ['--address', busAddress, '--state-dir', state],
    { stdio: ['ignore', 'ignore', 'inherit'], cwd: state });
  const exited = new Promise((resolve) => child.once('exit', (code, sig) => resolve({ code, sig })));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    const r = await withTimeout(exited, 'elife-pmd exit');
    assert.deepEqual(r, { code: 0, sig: null });
  };
  if (t) t.after(stop);
  await waitForName(busAddress);
  return { pid: child.pid, stop, exited };
}

function pidAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === 'EPERM';
  }
}

// Runs `node -e CODE` (or a file) with @env; resolves { code, signal, stdout, stderr }.
function runNode(args, { env = {}, cwd } = {}) {
  return withTimeout(new Promise((resolve, reject) => {
    const child = childProcess.spawn(process.execPath, args,
      { env: { ...process.env, ...env }, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    child.once('error', reject);
    child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr, pid: child.pid }));
  }), `node ${args.join(' ')}`);
}

const PACKAGE = path.join(__dirname, '..');

module.exports = {
  SLOW, TIMEOUT_MS, PMD, PACKAGE, address, tmpdir, write, withTimeout, waitFor, waitForFile,
  recorder, callbackRecorder, startBus, startDaemon, waitForName, pidAlive, runNode,
};
