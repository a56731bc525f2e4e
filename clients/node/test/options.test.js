// Unit tests of options.js: the table holds every Start key of the daemon
// (read from src/pm-options.c and the XML) and the keys of issues 14 and 15;
// each type converts plain JS values and refuses wrong ones by name.
'use strict';

const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { Variant } = require('dbus-next');
const { OPTIONS, check, prepare, toVariants } = require('../options');
const { PmError } = require('../errors');

const SRC = path.join(__dirname, '..', '..', '..', 'src', 'pm-options.c');
const XML = path.join(__dirname, '..', '..', '..', 'introspection', 'org.elife.ProcessManager.xml');

test('the table has every Start key of the daemon, with its type', () => {
  const text = fs.readFileSync(SRC, 'utf8');
  const table = text.slice(text.indexOf('option_table[] = {'));
  const rows = [...table.matchAll(/\{ "(\w+)",\s*"([^"]+)",/g)].map((m) => [m[1], m[2]]);
  assert.ok(rows.length >= 16, 'found the daemon\'s option table');
  for (const [key, type] of rows) {
    assert.ok(OPTIONS[key], `option ${key} missing from options.js`);
    assert.equal(OPTIONS[key].type, type, `type of ${key}`);
  }
  // The XML documents the same keys.
  const xml = fs.readFileSync(XML, 'utf8');
  for (const [key] of rows) assert.match(xml, new RegExp(`\\b${key} \\(`), `${key} in the XML`);
});

test('the table has the keys of readiness (issue 14) and log rotation (issue 15)', () => {
  const want = { ready: 's', readyPattern: 's', startTimeout: 'u', watchdogTimeout: 'u', logMaxBytes: 't', logBackups: 'u' };
  for (const [key, type] of Object.entries(want)) assert.equal(OPTIONS[key].type, type, key);
});

const good = [
  ['script', 'a.js', 'a.js'],
  ['name', 'web', 'web'],
  ['args', ['--port', 8080, ''], ['--port', '8080', '']],
  ['cwd', '/srv', '/srv'],
  ['log', 'logs/x.log', 'logs/x.log'],
  ['env', { PORT: '8080', N: 3, GONE: undefined }, { PORT: '8080', N: '3' }],
  ['clearEnv', true, true],
  ['restart', 'on-failure', 'on-failure'],
  ['restartAt', [100, 500], [100, 500]],
  ['restartOk', 30 * 60 * 1000, 1800000],
  ['stripANSI', true, true],
  ['timestamps', false, false],
  ['stopTimeout', 0, 0],
  ['interpreter', '/usr/bin/electron', '/usr/bin/electron'],
  ['stopWithCaller', false, false],
  ['replace', true, true],
  ['ready', 'ipc', 'ipc'],
  ['readyPattern', 'listening on', 'listening on'],
  ['startTimeout', 5000, 5000],
  ['watchdogTimeout', 0xffffffff, 0xffffffff],
  ['logMaxBytes', 10 * 1024 * 1024, 10485760n],
  ['logMaxBytes', 2n ** 63n, 2n ** 63n],
  ['logBackups', 5, 5],
];

for (const [key, value, want] of good) {
  test(`accepts ${key} = ${typeof value === 'bigint' ? `${value}n` : JSON.stringify(value)}`, () => {
    assert.deepEqual(check({ [key]: value }), { [key]: want });
    // And wraps it in the table's type.
    const v = toVariants({ [key]: want })[key];
    assert.ok(v instanceof Variant);
    assert.equal(v.signature, OPTIONS[key].type);
  });
}

const bad = [
  ['script', 3], ['script', null], ['name', ['a']], ['args', 'a b'], ['args', [{}]], ['args', [null]],
  ['cwd', {}], ['log', false], ['env', 'A=1'], ['env', ['A=1']], ['env', null], ['env', { A: {} }],
  ['clearEnv', 'yes'], ['clearEnv', 1], ['restart', 'sometimes'], ['restart', true],
  ['restartAt', 100], ['restartAt', [-1]], ['restartAt', [1.5]], ['restartAt', ['100']],
  ['restartOk', -1], ['restartOk', 2 ** 32], ['restartOk', '5'], ['restartOk', NaN],
  ['stripANSI', null], ['timestamps', 0], ['stopTimeout', 1.5], ['interpreter', 1],
  ['stopWithCaller', 'true'], ['replace', {}], ['ready', 1], ['readyPattern', /x/],
  ['startTimeout', -5], ['watchdogTimeout', '1'], ['logMaxBytes', -1], ['logMaxBytes', 2 ** 60],
  ['logMaxBytes', 2n ** 64n], ['logBackups', 1.1],
];

for (const [key, value] of bad) {
  test(`refuses ${key} = ${String(value)} with InvalidArgs naming it`, () => {
    assert.throws(() => check({ [key]: value }), (err) => {
      assert.ok(err instanceof PmError);
      assert.equal(err.code, 'InvalidArgs');
      assert.match(err.message, new RegExp(`"${key}`));
      return true;
    });
  });
}

test('an unknown key is refused by name', () => {
  assert.throws(() => check({ script: 'a', scirpt: 'b' }), { code: 'InvalidArgs', message: /"scirpt"/ });
  assert.throws(() => check({ toString: 'x' }), { code: 'InvalidArgs', message: /"toString"/ });
  assert.throws(() => check('script'), { code: 'InvalidArgs' });
  assert.throws(() => check(null), { code: 'InvalidArgs' });
});

test('prepare: stopWithCaller true by default, cwd absolute against process.cwd()', () => {
  const p = prepare({ script: 'index.js', cwd: './services/first' }, '/opt/app');
  assert.deepEqual(p, { stopWithCaller: true, script: 'index.js', cwd: '/opt/app/services/first' });
  assert.equal(prepare({ script: 'a.js' }, '/opt/app').cwd, '/opt/app');
  assert.equal(prepare({ script: 'a.js' }).cwd, process.cwd());
  assert.equal(prepare({ script: 'a.js', stopWithCaller: false }).stopWithCaller, false);
  assert.equal(prepare({ script: 'a.js', cwd: '/x' }, '/opt').cwd, '/x');
});

test('prepare: a script, or a cwd naming a module folder, is required', () => {
  assert.throws(() => prepare({ name: 'x' }), { code: 'InvalidArgs', message: /"script"/ });
  assert.deepEqual(prepare({ cwd: '/srv/svc' }), { stopWithCaller: true, cwd: '/srv/svc' });
});
