// client.js — one connection to elife-pmd: the bus (lazily connected), the
// daemon found, activated or started, the manager's methods as promises with
// the original module's callbacks on top, and its signals as events.
'use strict';

const { EventEmitter } = require('node:events');
const childProcess = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const dbus = require('dbus-next');
const { Message, MessageType } = dbus;
const { PmError, fromDBus, NO_SUCH_OBJECT } = require('./errors');
const options = require('./options');
const electron = require('./electron');

const BUS_NAME = 'org.elife.ProcessManager';
const PATH = '/org/elife/ProcessManager';
const IFACE = 'org.elife.ProcessManager';
const PROCESS_IFACE = 'org.elife.ProcessManager.Process';
const PROCESS_PATH_PREFIX = `${PATH}/process/`;
const OBJECT_MANAGER_IFACE = 'org.freedesktop.DBus.ObjectManager';
const DBUS = { destination: 'org.freedesktop.DBus', path: '/org/freedesktop/DBus', interface: 'org.freedesktop.DBus' };
const DEFAULT_DAEMON_TIMEOUT_MS = 10000;
const SYSTEM_BUS_ADDRESS = 'unix:path=/var/run/dbus/system_bus_socket';

const MATCH_RULES = [
  `type='signal',sender='${BUS_NAME}',path='${PATH}',interface='${IFACE}'`,
  `type='signal',sender='${BUS_NAME}',path='${PATH}',interface='${OBJECT_MANAGER_IFACE}',member='InterfacesRemoved'`,
];
const EVENTS = ['started', 'stopping', 'exited'];

function signalName(n) {
  if (!n) return null;
  for (const [name, num] of Object.entries(os.constants.signals)) if (num === n) return name;
  return `SIG${n}`;
}

function isDirectory(p) {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}

function isFile(p) {
  try {
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

// Whether an automatic restart follows an exit with @code of a process
// started with @opts (the daemon's rules: restart policy, restartAt [] or [0]).
function restartDue(opts, code, signal) {
  const policy = opts.restart || 'always';
  const at = opts.restartAt;
  if (at && (at.length === 0 || (at.length === 1 && at[0] === 0))) return false;
  if (policy === 'never') return false;
  if (policy === 'on-failure') return code !== 0 || signal !== 0;
  return true;
}

// Runs @promise's outcome into a node-style @callback as well; the promise
// is returned marked as handled, so a caller using only the callback never
// gets an unhandled rejection.
function withCallback(promise, callback) {
  if (typeof callback === 'function') {
    promise.then((v) => callback(null, v), (err) => callback(err));
    promise.catch(() => {});
  }
  return promise;
}

class Client extends EventEmitter {
  // { address, bus: 'session' | 'system', daemon, daemonTimeout }
  constructor(config = {}) {
    super();
    this._config = { ...config };
    this._bus = null;
    this._connecting = null;
    this._watchers = new Map();   // id → { opts, callback, stopping }
    this._startsInFlight = 0;
    this._early = [];             // signals seen while a Start is in flight
    this._pending = new Set();     // rejecters of the calls waiting for a reply
    // The original module's names, and methods that work detached
    // (const { start } = require('@elife/pm')).
    for (const m of ['start', 'stop', 'restart', 'stopAll', 'list', 'close', 'connect']) {
      this[m] = this[m].bind(this);
    }
    this.stopall = this.stopAll;
    this.stopByName = this.stop;
    this.restartByName = this.restart;
    // Listening for events connects, so that they flow without a call first.
    this.on('newListener', (event) => {
      if (EVENTS.includes(event)) {
        this._connect().catch((err) => {
          if (this.listenerCount('error') > 0) this.emit('error', err);
        });
      }
    });
  }

  // Another client, with its own connection.
  connect(config = {}) {
    return new Client(config);
  }

  // The bus address this client uses.
  _address() {
    const c = this._config;
    if (c.address) return c.address;
    if (c.bus === 'system') return process.env.DBUS_SYSTEM_BUS_ADDRESS || SYSTEM_BUS_ADDRESS;
    if (c.bus !== undefined && c.bus !== 'session') {
      throw new PmError('InvalidArgs', `connect: "bus" must be "session" or "system", not ${JSON.stringify(c.bus)}`);
    }
    if (c.bus === undefined && process.env.ELIFE_PM_ADDRESS) return process.env.ELIFE_PM_ADDRESS;
    return process.env.DBUS_SESSION_BUS_ADDRESS || null;
  }

  _connect() {
    if (this._connecting === null) {
      this._connecting = this._open().catch((err) => {
        this._teardown();
        throw err;
      });
    }
    return this._connecting;
  }

  async _open() {
    const address = this._address();
    const bus = address ? dbus.sessionBus({ busAddress: address }) : dbus.sessionBus();
    this._bus = bus;
    await new Promise((resolve, reject) => {
      const onError = (err) => {
        bus.removeListener('connect', onConnect);
        reject(new PmError('NoDaemon', `Cannot connect to the D-Bus bus at ${address || 'the session bus'}: ${err.message || err}`));
      };
      const onConnect = () => {
        bus.removeListener('error', onError);
        resolve();
      };
      bus.once('error', onError);
      bus.once('connect', onConnect);
    });
    // A lost connection fails the calls still waiting (dbus-next would
    // leave them pending) and ends this connection; the next call opens a
    // new one.
    const lost = () => {
      if (this._bus === bus) this._teardown();
      for (const fail of this._pending) fail(new PmError('NoDaemon', 'The connection to the bus was lost'));
      this._pending.clear();
    };
    bus.on('error', lost);
    bus._connection.once('end', lost);
    bus.on('message', (msg) => this._onMessage(msg));
    for (const rule of MATCH_RULES) await this._callBus('AddMatch', 's', [rule]);
    await this._ensureDaemon(address);
    return bus;
  }

  _teardown() {
    const bus = this._bus;
    this._bus = null;
    this._connecting = null;
    if (bus) {
      try {
        bus.disconnect();
      } catch {
        // already closed
      }
    }
  }

  _callBus(member, signature, body) {
    return this._bus.call(new Message({ ...DBUS, member, signature, body }));
  }

  // The daemon on the bus: already there, activated by the bus, or started
  // from `daemon` / ELIFE_PMD with --address; else NoDaemon.
  async _ensureDaemon(address) {
    const [hasOwner] = (await this._callBus('NameHasOwner', 's', [BUS_NAME])).body;
    if (hasOwner) return;
    let activationError;
    try {
      await this._callBus('StartServiceByName', 'su', [BUS_NAME, 0]);
      return;
    } catch (err) {
      activationError = err.text || err.message || String(err);
    }
    const daemon = this._config.daemon || process.env.ELIFE_PMD;
    if (!daemon) {
      throw new PmError('NoDaemon',
        `${BUS_NAME} is not on the bus${address ? ` at ${address}` : ''} and the bus cannot start it ` +
        `(${activationError}). Start elife-pmd, install its D-Bus activation file, or give the ` +
        'path of elife-pmd as connect({ daemon }) or in ELIFE_PMD.');
    }
    await this._startDaemon(daemon, address);
  }

  async _startDaemon(daemon, address) {
    const timeoutMs = this._config.daemonTimeout || DEFAULT_DAEMON_TIMEOUT_MS;
    const args = address ? ['--address', address] : ['--session'];
    // It outlives this app as the bus's service: its own session, no pipes.
    let child;
    try {
      child = childProcess.spawn(daemon, args, { detached: true, stdio: 'ignore' });
    } catch (err) {
      throw new PmError('NoDaemon', `Cannot start the daemon ${daemon}: ${err.message}`);
    }
    child.unref();
    // Listened to at once: it may exit before the bus answers anything.
    const ended = new Promise((resolve) => {
      child.once('error', (err) => resolve({ error: err.message }));
      child.once('exit', (code, sig) => resolve({ code, sig }));
    });
    const bus = this._bus;
    let onMessage;
    const owned = new Promise((resolve) => {
      onMessage = (msg) => {
        if (msg.type === MessageType.SIGNAL && msg.member === 'NameOwnerChanged' &&
            msg.interface === DBUS.interface && msg.body[0] === BUS_NAME && msg.body[2]) {
          resolve(true);
        }
      };
      bus.on('message', onMessage);
    });
    const rule = `type='signal',sender='org.freedesktop.DBus',member='NameOwnerChanged',arg0='${BUS_NAME}'`;
    await this._callBus('AddMatch', 's', [rule]);
    const hasOwnerNow = async () => (await this._callBus('NameHasOwner', 's', [BUS_NAME])).body[0];
    let timer;
    const outcome = await Promise.race([
      owned,
      hasOwnerNow().then((yes) => (yes ? true : new Promise(() => {}))),
      // Another client's daemon may have won the name: check before failing.
      ended.then((end) => (end.error ? end : hasOwnerNow().then(
        (yes) => (yes ? true : { error: `it exited with ${end.sig || `code ${end.code}`}` }),
        () => ({ error: 'the bus went away' })))),
      new Promise((resolve) => {
        timer = setTimeout(() => resolve({ error: `it did not take the name within ${timeoutMs} ms` }), timeoutMs);
      }),
    ]);
    clearTimeout(timer);
    bus.removeListener('message', onMessage);
    child.removeAllListeners('exit');
    child.removeAllListeners('error');
    this._callBus('RemoveMatch', 's', [rule]).catch(() => {});
    if (outcome !== true) {
      throw new PmError('NoDaemon', `Started the daemon ${daemon} ${args.join(' ')}, but ${outcome.error}`);
    }
  }

  // A method call on the daemon; D-Bus errors become PmErrors. When the
  // daemon has gone since, it is found or started again once.
  async _call(path, iface, member, signature = '', body = [], retried = false) {
    const bus = await this._connect();
    try {
      const reply = await new Promise((resolve, reject) => {
        this._pending.add(reject);
        bus.call(new Message({ destination: BUS_NAME, path, interface: iface, member, signature, body }))
          .then(resolve, reject)
          .finally(() => this._pending.delete(reject));
      });
      return reply.body;
    } catch (err) {
      const e = fromDBus(err);
      // The bus said nobody owns the name (not: the bus is gone).
      if (e.code === 'NoDaemon' && e.dbusName !== null && !retried && this._bus === bus) {
        await this._ensureDaemon(this._address());
        return this._call(path, iface, member, signature, body, true);
      }
      throw e;
    }
  }

  // ---- signals ----------------------------------------------------------

  _onMessage(msg) {
    if (msg.type !== MessageType.SIGNAL || msg.path !== PATH) return;
    if (msg.interface === OBJECT_MANAGER_IFACE && msg.member === 'InterfacesRemoved') {
      const [objectPath, ifaces] = msg.body;
      if (objectPath.startsWith(PROCESS_PATH_PREFIX) && ifaces.includes(PROCESS_IFACE)) {
        this._watchers.delete(Number(objectPath.slice(PROCESS_PATH_PREFIX.length)));
      }
      return;
    }
    if (msg.interface !== IFACE) return;
    const [id, name, pid, exitCode, termSignal] = msg.body;
    let event;
    if (msg.member === 'Started') event = { id, name, pid };
    else if (msg.member === 'Stopping') event = { id, name, pid };
    else if (msg.member === 'Exited') {
      event = { id, name, pid, exitCode: exitCode === -1 ? null : exitCode, signal: signalName(termSignal) };
    } else return;
    const kind = msg.member.toLowerCase();
    const entry = { kind, event, exitCode, termSignal };
    if (this._startsInFlight > 0) this._early.push(entry);
    this._dispatch(entry);
    this.emit(kind, event);
  }

  // The callback contract of the original module, for one process.
  _dispatch({ kind, event, exitCode, termSignal }) {
    const w = this._watchers.get(event.id);
    if (!w) return;
    if (kind === 'started') {
      w.stopping = false;
      w.pid = event.pid;
      if (w.onStarted) {
        const resolve = w.onStarted;
        w.onStarted = null;
        resolve(event.pid);
      }
      if (w.callback) w.callback(null, event.pid);
    } else if (kind === 'stopping') {
      w.stopping = true;
    } else if (kind === 'exited') {
      if (w.stopping) {             // a stop or restart asked for it
        w.stopping = false;
        return;
      }
      if (!w.callback) return;
      if (exitCode === 0 && termSignal === 0) {
        if (!restartDue(w.opts, 0, 0)) w.callback();
        return;
      }
      const label = event.name ? `"${event.name}"` : `process ${event.id}`;
      const how = termSignal ? `was killed by ${event.signal}` : `exited with code ${exitCode}`;
      const err = new Error(`${label} (pid ${event.pid}) ${how}`);
      Object.assign(err, { id: event.id, name: event.name, pid: event.pid, exitCode: event.exitCode, signal: event.signal });
      w.callback(err);
    }
  }

  // ---- methods ----------------------------------------------------------

  // start(options[, callback]) → Promise<{ id, name, pid }>
  // The callback hears the pids from the process's Started signals, so
  // only a failure to start goes to it from here.
  start(opts, callback) {
    const promise = this._start(opts, callback);
    if (typeof callback === 'function') promise.catch((err) => callback(err));
    return promise;
  }

  async _start(opts, callback) {
    let prepared = options.prepare(opts);
    prepared = electron.apply(prepared, { versions: process.versions, execPath: process.execPath, isDirectory, isFile });
    const asv = options.toVariants(prepared);
    await this._connect();
    this._startsInFlight++;
    let id;
    try {
      [id] = await this._call(PATH, IFACE, 'Start', 'a{sv}', [asv]);
    } finally {
      this._startsInFlight--;
    }
    const early = this._early.filter((e) => e.event.id === id);
    if (this._startsInFlight === 0) this._early = [];
    const w = { opts: prepared, callback: typeof callback === 'function' ? callback : null, stopping: false, pid: 0, onStarted: null };
    this._watchers.set(id, w);
    for (const e of early) this._dispatch(e);
    let pid = w.pid;
    if (!early.some((e) => e.kind === 'started')) {
      // The daemon answers a Start that is ready at once before it sends
      // Started, which follows right behind the reply: the pid is the
      // signal's (the child may be gone already), and the watcher is set
      // before the signal can be seen (nothing is awaited since the reply).
      pid = await new Promise((resolve, reject) => {
        this._pending.add(reject);
        w.onStarted = (startedPid) => {
          this._pending.delete(reject);
          resolve(startedPid);
        };
      });
    }
    return { id, name: prepared.name || '', pid };
  }

  // stop(nameOrId[, callback]) → Promise<count>
  stop(nameOrId, callback) {
    return withCallback(this._byNameOrId('Stop', nameOrId), callback);
  }

  // restart(nameOrId[, callback]) → Promise<count>
  restart(nameOrId, callback) {
    return withCallback(this._byNameOrId('Restart', nameOrId), callback);
  }

  async _byNameOrId(member, nameOrId) {
    if (typeof nameOrId === 'string') {
      const [count] = await this._call(PATH, IFACE, member, 's', [nameOrId]);
      return count;
    }
    if (Number.isInteger(nameOrId) && nameOrId > 0 && nameOrId <= 0xffffffff) {
      try {
        await this._call(`${PROCESS_PATH_PREFIX}${nameOrId}`, PROCESS_IFACE, member);
      } catch (err) {
        if (NO_SUCH_OBJECT.includes(err.dbusName) || err.code === 'NotFound') {
          throw new PmError('NotFound', `No process has id ${nameOrId}`, err.dbusName);
        }
        throw err;
      }
      return 1;
    }
    throw new PmError('InvalidArgs', `${member.toLowerCase()}: expected a process name (string) or id (positive integer), got ${JSON.stringify(nameOrId)}`);
  }

  // stopAll([callback]) → Promise<count>
  stopAll(callback) {
    return withCallback(this._call(PATH, IFACE, 'StopAll').then(([count]) => count), callback);
  }

  // list() → Promise<[{ id, name, pid, state, restarts }]>
  async list() {
    const [entries] = await this._call(PATH, IFACE, 'List');
    return entries.map(([id, name, pid, state, restarts]) => ({ id, name, pid, state, restarts }));
  }

  // Ends the connection, so that node can exit. The client can be used
  // again: the next call connects anew.
  async close() {
    const pending = this._connecting;
    if (pending) await pending.catch(() => {});
    this._watchers.clear();
    this._teardown();
  }
}

module.exports = { Client, restartDue, BUS_NAME, PATH, IFACE };
