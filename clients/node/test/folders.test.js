// Module folders and ASAR paths through the package (plain node): what
// runs, and the SpawnFailed errors naming the file.
'use strict';

const { test, after } = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const pm = require('..');
const h = require('./helpers');

after(() => pm.close());

function reporter(file, out) {
  return h.write(file, `
    require('fs').writeFileSync(${JSON.stringify(out)} + '.tmp',
      JSON.stringify({ argv1: process.argv[1], send: typeof process.send, cwd: process.cwd() }) + '\\n');
    require('fs').renameSync(${JSON.stringify(out)} + '.tmp', ${JSON.stringify(out)});
    setInterval(() => {}, 1000);
  `);
}

test('cwd without script: the folder\'s package.json main runs as node, with the IPC channel', async (t) => {
  const dir = h.tmpdir(t);
  const out = path.join(dir, 'seen');
  h.write(path.join(dir, 'svc', 'package.json'), '{"name": "svc", "main": "lib/start"}');
  const main = reporter(path.join(dir, 'svc', 'lib', 'start'), out);
  const r = await pm.start({ name: 'folder', cwd: path.join(dir, 'svc') });
  assert.ok(h.pidAlive(r.pid));
  assert.deepEqual(JSON.parse(await h.waitForFile(out)), { argv1: main, send: 'function', cwd: path.join(dir, 'svc') });
  assert.equal(await pm.stop('folder'), 1);
});

test('script naming a folder, relative to cwd: its index.js by default', async (t) => {
  const dir = h.tmpdir(t);
  const out = path.join(dir, 'seen');
  h.write(path.join(dir, 'services', 'first', 'package.json'), '{"name": "first"}');
  const index = reporter(path.join(dir, 'services', 'first', 'index.js'), out);
  await pm.start({ name: 'folder', script: 'services/first', cwd: dir });
  assert.equal(JSON.parse(await h.waitForFile(out)).argv1, index);
  assert.equal(await pm.stop('folder'), 1);
});

test('folder errors: no package.json, invalid JSON, missing main — SpawnFailed naming the file', async (t) => {
  const dir = h.tmpdir(t);
  h.write(path.join(dir, 'a', 'index.js'), '');
  await assert.rejects(pm.start({ cwd: path.join(dir, 'a') }),
    { code: 'SpawnFailed', message: new RegExp(path.join(dir, 'a', 'package.json')) });
  h.write(path.join(dir, 'b', 'package.json'), '{"main": ');
  await assert.rejects(pm.start({ cwd: path.join(dir, 'b') }),
    { code: 'SpawnFailed', message: new RegExp(`${path.join(dir, 'b', 'package.json')}.*JSON`) });
  h.write(path.join(dir, 'c', 'package.json'), '{"main": "gone.js"}');
  await assert.rejects(pm.start({ cwd: path.join(dir, 'c') }),
    { code: 'SpawnFailed', message: new RegExp(path.join(dir, 'c', 'gone.js')) });
});

test('a script inside an ASAR archive: accepted with an interpreter, path inside unchecked', async (t) => {
  const dir = h.tmpdir(t);
  const archive = h.write(path.join(dir, 'app.asar'), 'opaque');
  const record = path.join(dir, 'argv');
  const electron = h.write(path.join(dir, 'electron'),
    `#!/bin/sh\necho "$1 $(pwd)" > '${record}.tmp'; mv '${record}.tmp' '${record}'\nexec sleep 600\n`, 0o755);
  const script = path.join(archive, 'server', 'index.js');
  await pm.start({ name: 'asar', script, interpreter: electron });
  // cwd defaults to process.cwd(); the script is absolute already.
  assert.equal(await h.waitForFile(record), `${script} ${process.cwd()}\n`);
  assert.equal(await pm.stop('asar'), 1);
  await assert.rejects(pm.start({ name: 'asar', script }),
    { code: 'SpawnFailed', message: /ASAR archive.*Electron as interpreter/s });
});
