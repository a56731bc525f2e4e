// Every error code reaches the caller as a PmError with .code and .dbusName:
// NotFound, InvalidArgs (client and daemon), SpawnFailed, LogFailed from the
// real daemon; LimitExceeded and AccessDenied (which need 10000 processes or
// another user) from a stand-in service on a bus of its own.
'use strict';

const { test, after } = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const dbus = require('dbus-next');
const pm = require('..');
const { PmError } = require('..');
const h = require('./helpers');

after(() => pm.close());

const PM = 'org.elife.ProcessManager.Error.';

async function rejectsWith(promise, code, dbusName, message) {
  await assert.rejects(promise, (err) => {
    assert.ok(err instanceof PmError, `a PmError, got ${err}`);
    assert.equal(err.code, code);
    assert.equal(err.dbusName, dbusName);
    if (message) assert.match(err.message, message);
    return true;
  });
}

test('NotFound: stop, restart, stopByName, restartByName of an unknown name or id', async () => {
  await rejectsWith(pm.stop('no-such-name'), 'NotFound', `${PM}NotFound`, /no-such-name/);
  await rejectsWith(pm.restart('no-such-name'), 'NotFound', `${PM}NotFound`);
  await rejectsWith(pm.stopByName('no-such-name'), 'NotFound', `${PM}NotFound`);
  await rejectsWith(pm.restartByName('no-such-name'), 'NotFound', `${PM}NotFound`);
  await assert.rejects(pm.stop(4000000000), { code: 'NotFound', message: /4000000000/ });
  await assert.rejects(pm.restart(4000000000), { code: 'NotFound' });
});

test('InvalidArgs from the client: unknown key, wrong type, bad name or id argument', async () => {
  await rejectsWith(pm.start({ script: 'a.js', scirpt: 'b' }), 'InvalidArgs', null, /scirpt/);
  await rejectsWith(pm.start({ script: 'a.js', restartOk: '5' }), 'InvalidArgs', null, /restartOk/);
  await rejectsWith(pm.start(), 'InvalidArgs', null);
  await rejectsWith(pm.stop({}), 'InvalidArgs', null);
  await rejectsWith(pm.restart(-1), 'InvalidArgs', null);
});

test('InvalidArgs from the daemon, named by it', async () => {
  await rejectsWith(pm.start({ script: '/bin/true', name: 'two\nlines' }),
    'InvalidArgs', 'org.freedesktop.DBus.Error.InvalidArgs', /name/);
  await rejectsWith(pm.start({ script: '/bin/true', stopTimeout: 3600001 }),
    'InvalidArgs', 'org.freedesktop.DBus.Error.InvalidArgs', /stopTimeout/);
});

test('SpawnFailed names the path', async (t) => {
  const dir = h.tmpdir(t);
  await rejectsWith(pm.start({ script: 'missing.sh', cwd: dir }), 'SpawnFailed', `${PM}SpawnFailed`,
    new RegExp(path.join(dir, 'missing.sh')));
});

test('LogFailed names the log file', async (t) => {
  const dir = h.tmpdir(t);
  // Under a regular file: no directory can be made there.
  const file = h.write(path.join(dir, 'a-file'), 'x\n');
  const log = path.join(file, 'x.log');
  await rejectsWith(pm.start({ script: '/bin/true', log }), 'LogFailed', `${PM}LogFailed`, /a-file/);
});

test('LimitExceeded and AccessDenied, from a stand-in manager', async (t) => {
  const bus = await h.startBus(t);
  const service = dbus.sessionBus({ busAddress: bus.address });
  t.after(() => service.disconnect());
  const replies = {
    Start: ['org.elife.ProcessManager.Error.LimitExceeded', 'Too many processes (at most 10000)'],
    Stop: ['org.elife.ProcessManager.Error.AccessDenied', 'Process 1 belongs to another user'],
    StopAll: ['org.freedesktop.DBus.Error.AccessDenied', 'Rejected by the bus policy'],
  };
  service.addMethodHandler((msg) => {
    if (msg.interface !== 'org.elife.ProcessManager' || !replies[msg.member]) return false;
    service.send(dbus.Message.newError(msg, ...replies[msg.member]));
    return true;
  });
  await service.requestName('org.elife.ProcessManager', 0);
  const client = pm.connect({ address: bus.address });
  t.after(() => client.close());
  await rejectsWith(client.start({ script: '/bin/true' }), 'LimitExceeded', `${PM}LimitExceeded`, /10000/);
  await rejectsWith(client.stop('x'), 'AccessDenied', `${PM}AccessDenied`, /another user/);
  await rejectsWith(client.stopAll(), 'AccessDenied', 'org.freedesktop.DBus.Error.AccessDenied');
});
