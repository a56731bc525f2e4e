// child.js — for code running under the daemon: onstopping(), ready() and
// watchdog(), over the IPC channel that the daemon gives node children. No
// D-Bus connection, and nothing here keeps the child alive.
'use strict';

let stoppingHooked = false;
const stoppingHandlers = [];

function runStopping() {
  detach();
  const fns = stoppingHandlers.splice(0);
  for (const fn of fns) fn();
}

function onMessage(m) {
  if (m && typeof m === 'object' && m.stopping === true) runStopping();
}

// The app's own 'message' or 'disconnect' listener wants the channel to keep
// it alive, as it would without us.
function onNewListener(name) {
  if (name !== 'message' && name !== 'disconnect') return;
  process.removeListener('newListener', onNewListener);
  if (process.channel) process.channel.ref();
}

function detach() {
  process.removeListener('message', onMessage);
  process.removeListener('beforeExit', runStopping);
  process.removeListener('exit', runStopping);
  process.removeListener('newListener', onNewListener);
}

// Calls @fn once: when the daemon's stop message ({"stopping":true}) arrives,
// or at beforeExit/exit, whichever comes first.
function onstopping(fn) {
  if (typeof fn !== 'function') throw new TypeError('onstopping: expected a function');
  stoppingHandlers.push(fn);
  if (stoppingHooked) return;
  stoppingHooked = true;
  process.on('beforeExit', runStopping);
  process.on('exit', runStopping);
  if (typeof process.send === 'function' && process.channel) {
    const others = process.listenerCount('message') + process.listenerCount('disconnect');
    process.on('message', onMessage);
    // A 'message' listener holds the channel open; a child that finished its
    // work must still exit by itself (unless the app listens too).
    if (others === 0) {
      process.channel.unref();
      process.on('newListener', onNewListener);
    }
  }
}

function send(what) {
  if (typeof process.send !== 'function' || !process.connected) return false;
  process.send(what);
  return true;
}

// Tells the daemon the service is ready (option ready: "ipc"). Returns
// whether there was a channel to say it on.
function ready() {
  return send('ready');
}

// A watchdog ping (option watchdogTimeout). Returns whether it was sent.
function watchdog() {
  return send('watchdog');
}

module.exports = { onstopping, ready, watchdog };
