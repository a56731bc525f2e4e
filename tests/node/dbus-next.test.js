// Drives elife-pmd through dbus-next on the private bus that run.sh started
// (ELIFE_PM_BUS_ADDRESS): Start with Variant options, List, Stop, StopAll,
// the Process objects, errors, and the Stopping/Started/Exited signals.
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const dbus = require('dbus-next');
const { Variant } = dbus;

const BUS_NAME = 'org.elife.ProcessManager';
const PATH = '/org/elife/ProcessManager';
const IFACE = 'org.elife.ProcessManager';
const PROCESS_IFACE = 'org.elife.ProcessManager.Process';
const DATA = process.env.ELIFE_PM_TEST_DATA || path.join(__dirname, '..', 'data');
const TIMEOUT_MS = 10000;

let bus;
let pm;
let tmpdir;
const seen = []; // { signal, id, name, pid, exitCode, termSignal, time }

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out: ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

// Resolves with the first recorded signal matching, waiting for it if needed.
function waitForSignal(signal, id, ms = TIMEOUT_MS) {
  const find = () => seen.find((s) => s.signal === signal && s.id === id);
  const found = find();
  if (found) return Promise.resolve(found);
  return withTimeout(new Promise((resolve) => {
    const check = () => {
      const s = find();
      if (s) {
        pm.removeListener(signal, check);
        resolve(s);
      }
    };
    pm.on(signal, check);
  }), ms, `${signal} for id ${id}`);
}

async function waitForName(address) {
  const obj = await bus.getProxyObject('org.freedesktop.DBus', '/org/freedesktop/DBus');
  const dbusIface = obj.getInterface('org.freedesktop.DBus');
  const appeared = new Promise((resolve) => {
    dbusIface.on('NameOwnerChanged', (name, oldOwner, newOwner) => {
      if (name === BUS_NAME && newOwner) resolve();
    });
  });
  if (await dbusIface.NameHasOwner(BUS_NAME)) return;
  await withTimeout(appeared, TIMEOUT_MS, `${BUS_NAME} on ${address}`);
}

function waitForFile(file, ms = TIMEOUT_MS) {
  return withTimeout(new Promise((resolve) => {
    const check = () => {
      if (fs.existsSync(file) && fs.readFileSync(file, 'utf8').endsWith('\n')) {
        watcher.close();
        resolve(fs.readFileSync(file, 'utf8'));
      }
    };
    const watcher = fs.watch(path.dirname(file), check);
    check();
  }), ms, `file ${file}`);
}

before(async () => {
  const address = process.env.ELIFE_PM_BUS_ADDRESS;
  assert.ok(address, 'ELIFE_PM_BUS_ADDRESS must name the private bus (run.sh sets it)');
  tmpdir = fs.mkdtempSync(path.join(os.tmpdir(), 'elife-pm-node-'));
  bus = dbus.sessionBus({ busAddress: address });
  await waitForName(address);
  const obj = await bus.getProxyObject(BUS_NAME, PATH);
  pm = obj.getInterface(IFACE);
  for (const signal of ['Started', 'Stopping']) {
    pm.on(signal, (id, name, pid) => seen.push({ signal, id, name, pid, time: Date.now() }));
  }
  pm.on('Exited', (id, name, pid, exitCode, termSignal) =>
    seen.push({ signal: 'Exited', id, name, pid, exitCode, termSignal, time: Date.now() }));
  // A round trip after subscribing: the match rules are in place before any test.
  await pm.List();
});

after(async () => {
  if (pm) await pm.StopAll();
  if (bus) bus.disconnect();
  if (tmpdir) fs.rmSync(tmpdir, { recursive: true, force: true });
});

test('Version property', async () => {
  const obj = await bus.getProxyObject(BUS_NAME, PATH);
  const props = obj.getInterface('org.freedesktop.DBus.Properties');
  const version = await props.Get(IFACE, 'Version');
  assert.ok(version instanceof Variant);
  assert.equal(version.signature, 's');
  assert.match(version.value, /^\d+\.\d+\.\d+/);
});

test('Start with Variant options, Started, List, Stop, Stopping, Exited', async () => {
  const id = await pm.Start({
    script: new Variant('s', path.join(DATA, 'sleep-forever.sh')),
    name: new Variant('s', 'node-web'),
    args: new Variant('as', []),
    stopTimeout: new Variant('u', 200),
    restartAt: new Variant('au', []),
    env: new Variant('a{ss}', { FROM_NODE: '1' }),
  });
  assert.equal(typeof id, 'number');
  assert.ok(id >= 1);

  const started = await waitForSignal('Started', id);
  assert.equal(started.name, 'node-web');
  assert.ok(started.pid > 0);

  const list = await pm.List();
  const entry = list.find((e) => e[0] === id);
  assert.deepEqual(entry, [id, 'node-web', started.pid, 'running', 0]);

  const count = await pm.Stop('node-web');
  assert.equal(count, 1);
  const stopping = await waitForSignal('Stopping', id);
  const exited = await waitForSignal('Exited', id);
  assert.equal(stopping.pid, started.pid);
  assert.equal(exited.pid, started.pid);
  assert.equal(exited.name, 'node-web');
  assert.ok(seen.indexOf(stopping) < seen.indexOf(exited), 'Stopping before Exited');
  // sleep-forever.sh dies of the SIGTERM sent after stopTimeout.
  assert.equal(exited.exitCode, -1);
  assert.equal(exited.termSignal, 15);

  const after = await pm.List();
  assert.equal(after.find((e) => e[0] === id), undefined);
});

test('a node child stops on the {"stopping":true} IPC message', async () => {
  const ready = path.join(tmpdir, 'ready');
  const got = path.join(tmpdir, 'got');
  const id = await pm.Start({
    script: new Variant('s', path.join(DATA, 'stop-on-message.js')),
    name: new Variant('s', 'node-ipc'),
    args: new Variant('as', [ready, got]),
    stopTimeout: new Variant('u', 2000),
    restartAt: new Variant('au', []),
  });
  await waitForSignal('Started', id);
  await waitForFile(ready);
  const t0 = Date.now();
  assert.equal(await pm.Stop('node-ipc'), 1);
  assert.ok(Date.now() - t0 < 2000, 'exited before stopTimeout');
  const exited = await waitForSignal('Exited', id);
  assert.equal(exited.exitCode, 0);
  assert.equal(exited.termSignal, 0);
  assert.equal(fs.readFileSync(got, 'utf8'), '{"stopping":true}');
});

test('Process object: properties and Stop()', async () => {
  const id = await pm.Start({
    script: new Variant('s', path.join(DATA, 'sleep-forever.sh')),
    // sleep-forever.sh writes its pid to its first argument.
    args: new Variant('as', [path.join(tmpdir, 'obj.pid'), 'b']),
    stopTimeout: new Variant('u', 100),
  });
  const started = await waitForSignal('Started', id);
  const obj = await bus.getProxyObject(BUS_NAME, `${PATH}/process/${id}`);
  const props = obj.getInterface('org.freedesktop.DBus.Properties');
  const all = await props.GetAll(PROCESS_IFACE);
  assert.equal(all.Id.value, id);
  assert.equal(all.Name.value, '');
  assert.equal(all.Pid.value, started.pid);
  assert.equal(all.State.value, 'running');
  assert.deepEqual(all.Args.value, [path.join(tmpdir, 'obj.pid'), 'b']);
  assert.equal(all.Script.value, path.join(DATA, 'sleep-forever.sh'));
  assert.equal(all.Log.value, '');

  await obj.getInterface(PROCESS_IFACE).Stop();
  await waitForSignal('Exited', id);
  assert.equal((await pm.List()).find((e) => e[0] === id), undefined);
});

test('errors arrive as DBusError with the D-Bus error name', async () => {
  await assert.rejects(
    pm.Start({ script: new Variant('s', path.join(DATA, 'sleep-forever.sh')),
      bogusKey: new Variant('s', 'x') }),
    (err) => err instanceof dbus.DBusError &&
      err.type === 'org.freedesktop.DBus.Error.InvalidArgs' && /bogusKey/.test(err.text));
  await assert.rejects(
    pm.Start({ script: new Variant('s', path.join(tmpdir, 'missing.sh')) }),
    (err) => err.type === 'org.elife.ProcessManager.Error.SpawnFailed');
  await assert.rejects(pm.Stop('nobody-has-this-name'),
    (err) => err.type === 'org.elife.ProcessManager.Error.NotFound');
});

test('StopAll stops every process and returns the count', async () => {
  const ids = [];
  for (let i = 0; i < 3; i++) {
    ids.push(await pm.Start({
      script: new Variant('s', path.join(DATA, 'sleep-forever.sh')),
      name: new Variant('s', `many-${i % 2}`),
      stopTimeout: new Variant('u', 100),
    }));
  }
  for (const id of ids) await waitForSignal('Started', id);
  const count = await pm.StopAll();
  assert.ok(count >= 3);
  for (const id of ids) {
    await waitForSignal('Stopping', id);
    await waitForSignal('Exited', id);
  }
  assert.deepEqual(await pm.List(), []);
});
