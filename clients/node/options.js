// options.js — Start options: plain JS values checked and turned into the
// daemon's a{sv}. The conversion is data: one table from option name to
// D-Bus type, and one check per D-Bus type (plus a few per option).
'use strict';

const path = require('node:path');
const { Variant } = require('dbus-next');
const { PmError } = require('./errors');

const MAX_U32 = 0xffffffff;
const MAX_U64 = (1n << 64n) - 1n;

function invalid(key, what) {
  return new PmError('InvalidArgs', `Option "${key}": ${what}`);
}

function toU32(key, v) {
  if (!Number.isInteger(v) || v < 0 || v > MAX_U32) {
    throw invalid(key, `expected an integer from 0 to ${MAX_U32}, got ${describe(v)}`);
  }
  return v;
}

function toU64(key, v) {
  const ok = (typeof v === 'bigint' && v >= 0n && v <= MAX_U64) ||
    (Number.isSafeInteger(v) && v >= 0);
  if (!ok) throw invalid(key, `expected a non-negative integer, got ${describe(v)}`);
  return BigInt(v);
}

function toString(key, v) {
  if (typeof v !== 'string') throw invalid(key, `expected a string, got ${describe(v)}`);
  return v;
}

// Arguments and environment values: strings, or numbers written out (as
// child_process does with env values).
function toArgString(key, v) {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  throw invalid(key, `expected strings, got ${describe(v)}`);
}

function describe(v) {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return `the string ${JSON.stringify(v)}`;
  if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') {
    return `${typeof v} ${String(v)}`;
  }
  return typeof v;
}

// One check (and conversion) per D-Bus type.
const CONVERT = {
  s: toString,
  b: (key, v) => {
    if (typeof v !== 'boolean') throw invalid(key, `expected true or false, got ${describe(v)}`);
    return v;
  },
  u: toU32,
  t: toU64,
  as: (key, v) => {
    if (!Array.isArray(v)) throw invalid(key, `expected an array of strings, got ${describe(v)}`);
    return v.map((x) => toArgString(key, x));
  },
  au: (key, v) => {
    if (!Array.isArray(v)) throw invalid(key, `expected an array of integers, got ${describe(v)}`);
    return v.map((x) => toU32(key, x));
  },
  'a{ss}': (key, v) => {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) {
      throw invalid(key, `expected an object of strings, got ${describe(v)}`);
    }
    const out = {};
    for (const [k, x] of Object.entries(v)) {
      if (x === undefined) continue;      // as child_process: an unset variable
      out[k] = toArgString(`${key}.${k}`, x);
    }
    return out;
  },
};

const RESTART_POLICIES = ['always', 'on-failure', 'never'];

// Every Start key of the daemon, with its D-Bus type; `check` adds what the
// type alone does not say (the daemon checks limits again).
const OPTIONS = {
  script: { type: 's' },
  name: { type: 's' },
  args: { type: 'as' },
  cwd: { type: 's' },
  log: { type: 's' },
  env: { type: 'a{ss}' },
  clearEnv: { type: 'b' },
  restart: {
    type: 's',
    check: (v) => RESTART_POLICIES.includes(v) || `expected one of ${RESTART_POLICIES.join(', ')}`,
  },
  restartAt: { type: 'au' },
  restartOk: { type: 'u' },
  stripANSI: { type: 'b' },
  timestamps: { type: 'b' },
  stopTimeout: { type: 'u' },
  interpreter: { type: 's' },
  stopWithCaller: { type: 'b' },
  replace: { type: 'b' },
  // Readiness and watchdog (issue 14).
  ready: { type: 's' },
  readyPattern: { type: 's' },
  startTimeout: { type: 'u' },
  watchdogTimeout: { type: 'u' },
  // Log rotation (issue 15).
  logMaxBytes: { type: 't' },
  logBackups: { type: 'u' },
};

// What this client sends unless told otherwise.
const CLIENT_DEFAULTS = {
  // An app's services die with the app, even when the app crashes.
  stopWithCaller: true,
};

// Checks @options (plain JS values) and returns them converted, as a plain
// object of JS values in the daemon's types; undefined values are left out.
// Throws a PmError with code InvalidArgs naming the first bad key.
function check(options) {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new PmError('InvalidArgs', `Options: expected an object, got ${describe(options)}`);
  }
  const out = {};
  for (const [key, value] of Object.entries(options)) {
    const spec = Object.prototype.hasOwnProperty.call(OPTIONS, key) ? OPTIONS[key] : null;
    if (spec === null) throw new PmError('InvalidArgs', `Unknown option "${key}"`);
    if (value === undefined) continue;
    const converted = CONVERT[spec.type](key, value);
    if (spec.check) {
      const verdict = spec.check(converted);
      if (verdict !== true) throw invalid(key, verdict);
    }
    out[key] = converted;
  }
  return out;
}

// The options a start() sends: checked, client defaults filled in, cwd made
// absolute against process.cwd() (also its default). @base is the cwd to
// resolve against (process.cwd() unless testing).
function prepare(options, base = process.cwd()) {
  const out = { ...CLIENT_DEFAULTS, ...check(options) };
  if (out.script === undefined && options.cwd === undefined) {
    throw new PmError('InvalidArgs',
      'Option "script" is required (or "cwd" naming a node module folder)');
  }
  out.cwd = path.resolve(base, out.cwd === undefined ? '.' : out.cwd);
  return out;
}

// The a{sv} for Start: each value wrapped in a Variant of its table type.
function toVariants(prepared) {
  const asv = {};
  for (const [key, value] of Object.entries(prepared)) {
    asv[key] = new Variant(OPTIONS[key].type, value);
  }
  return asv;
}

module.exports = { OPTIONS, CLIENT_DEFAULTS, check, prepare, toVariants };
