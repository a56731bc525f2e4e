// errors.js — PmError, the one error class of the package, and the map from
// D-Bus error names to its short codes.
'use strict';

const PM_ERROR_PREFIX = 'org.elife.ProcessManager.Error.';

// D-Bus names that do not end in the code a user should test for.
const CODE_FOR_DBUS_NAME = {
  'org.freedesktop.DBus.Error.InvalidArgs': 'InvalidArgs',
  'org.freedesktop.DBus.Error.AccessDenied': 'AccessDenied',
  'org.freedesktop.DBus.Error.ServiceUnknown': 'NoDaemon',
  'org.freedesktop.DBus.Error.NameHasNoOwner': 'NoDaemon',
};

// What a call on a process object that does not exist gets (stop(id) or
// restart(id) of an unknown id): NotFound there, and only there.
const NO_SUCH_OBJECT = [
  'org.freedesktop.DBus.Error.UnknownObject',
  'org.freedesktop.DBus.Error.UnknownMethod',
  'org.freedesktop.DBus.Error.UnknownInterface',
];

class PmError extends Error {
  // code: 'NotFound', 'InvalidArgs', 'SpawnFailed', 'LogFailed',
  // 'LimitExceeded', 'AccessDenied', 'NoDaemon', ...; dbusName: the D-Bus
  // error name, or null when the error did not come from the bus.
  constructor(code, message, dbusName = null) {
    super(message);
    this.name = 'PmError';
    this.code = code;
    this.dbusName = dbusName;
  }
}

// The short code for a D-Bus error name: the map, else its last part.
function codeFor(dbusName) {
  if (Object.prototype.hasOwnProperty.call(CODE_FOR_DBUS_NAME, dbusName)) {
    return CODE_FOR_DBUS_NAME[dbusName];
  }
  if (dbusName.startsWith(PM_ERROR_PREFIX)) return dbusName.slice(PM_ERROR_PREFIX.length);
  return dbusName.slice(dbusName.lastIndexOf('.') + 1);
}

// A dbus-next DBusError (or any error) as a PmError; PmErrors pass through.
function fromDBus(err) {
  if (err instanceof PmError) return err;
  if (err && typeof err.type === 'string') {
    return new PmError(codeFor(err.type), err.text || err.message || err.type, err.type);
  }
  return new PmError('Failed', err && err.message ? err.message : String(err));
}

module.exports = { PmError, codeFor, fromDBus, PM_ERROR_PREFIX, NO_SUCH_OBJECT };
