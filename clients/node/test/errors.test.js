// Unit tests of errors.js: D-Bus error names to codes.
'use strict';

const { test } = require('node:test');
const assert = require('node:assert/strict');
const { DBusError } = require('dbus-next');
const { PmError, codeFor, fromDBus } = require('../errors');

test('codes: the last part of the daemon\'s names, mapped freedesktop ones', () => {
  const cases = {
    'org.elife.ProcessManager.Error.NotFound': 'NotFound',
    'org.elife.ProcessManager.Error.SpawnFailed': 'SpawnFailed',
    'org.elife.ProcessManager.Error.LogFailed': 'LogFailed',
    'org.elife.ProcessManager.Error.LimitExceeded': 'LimitExceeded',
    'org.elife.ProcessManager.Error.AccessDenied': 'AccessDenied',
    'org.elife.ProcessManager.Error.Failed': 'Failed',
    'org.freedesktop.DBus.Error.InvalidArgs': 'InvalidArgs',
    'org.freedesktop.DBus.Error.AccessDenied': 'AccessDenied',
    'org.freedesktop.DBus.Error.ServiceUnknown': 'NoDaemon',
    'org.freedesktop.DBus.Error.NoReply': 'NoReply',
    // Only stop(id)/restart(id) turn these into NotFound.
    'org.freedesktop.DBus.Error.UnknownMethod': 'UnknownMethod',
  };
  for (const [name, code] of Object.entries(cases)) assert.equal(codeFor(name), code, name);
});

test('fromDBus keeps the message and the D-Bus name', () => {
  const e = fromDBus(new DBusError('org.elife.ProcessManager.Error.NotFound', 'No process is named “x”'));
  assert.ok(e instanceof PmError);
  assert.ok(e instanceof Error);
  assert.equal(e.name, 'PmError');
  assert.equal(e.code, 'NotFound');
  assert.equal(e.dbusName, 'org.elife.ProcessManager.Error.NotFound');
  assert.equal(e.message, 'No process is named “x”');
  const same = new PmError('NoDaemon', 'x');
  assert.equal(fromDBus(same), same);
  assert.equal(same.dbusName, null);
});
