// The Electron rules end to end: process.versions.electron simulated and
// process.execPath pointing at a stand-in "Electron" that records its argv
// and environment, then runs node (or, for a path inside an archive, stays
// up as if it read it).
'use strict';

const { test, after, beforeEach, afterEach } = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const pm = require('..');
const h = require('./helpers');

after(() => pm.close());

const realExecPath = process.execPath;
const hadElectron = Object.prototype.hasOwnProperty.call(process.versions, 'electron');

let dir;
let record;

beforeEach((t) => {
  dir = h.tmpdir();
  record = path.join(dir, 'electron-argv');
  const electron = h.write(path.join(dir, 'Electron'), `#!/bin/sh
{ for a in "$@"; do echo "arg=$a"; done
  echo "ELECTRON_RUN_AS_NODE=$ELECTRON_RUN_AS_NODE"
  echo "NODE_CHANNEL_FD=$NODE_CHANNEL_FD"
  echo "cwd=$(pwd)"; } > '${record}.tmp'
mv '${record}.tmp' '${record}'
case "$1" in *.asar/*) exec sleep 600 ;; esac
exec '${realExecPath}' "$@"
`, 0o755);
  process.versions.electron = '30.0.0';
  process.execPath = electron;
});

afterEach(async () => {
  process.execPath = realExecPath;
  if (!hadElectron) delete process.versions.electron;
  await pm.stop('electron-rules').catch(() => {});
  require('node:fs').rmSync(dir, { recursive: true, force: true });
});

function parse(text) {
  const out = { args: [] };
  for (const line of text.trim().split('\n')) {
    const [k, ...v] = line.split('=');
    if (k === 'arg') out.args.push(v.join('='));
    else out[k] = v.join('=');
  }
  return out;
}

// A node script that writes what it sees once it runs.
function reporter(file, out) {
  return h.write(file, `
    require('fs').writeFileSync(${JSON.stringify(out)} + '.tmp',
      JSON.stringify({ argv1: process.argv[1], send: typeof process.send, cwd: process.cwd() }) + '\\n');
    require('fs').renameSync(${JSON.stringify(out)} + '.tmp', ${JSON.stringify(out)});
    setInterval(() => {}, 1000);
  `);
}

test('a .js script runs under process.execPath with ELECTRON_RUN_AS_NODE=1 and the IPC channel', async () => {
  const out = path.join(dir, 'seen');
  const script = reporter(path.join(dir, 'server.js'), out);
  await pm.start({ name: 'electron-rules', script: 'server.js', cwd: dir, args: ['--port', '8080'] });
  const rec = parse(await h.waitForFile(record));
  assert.deepEqual(rec.args, [script, '--port', '8080']);
  assert.equal(rec.ELECTRON_RUN_AS_NODE, '1');
  assert.equal(rec.NODE_CHANNEL_FD, '3');
  const seen = JSON.parse(await h.waitForFile(out));
  assert.equal(seen.argv1, script);
  assert.equal(seen.send, 'function');
});

test('env setting ELECTRON_RUN_AS_NODE is kept; an explicit interpreter is used as given', async () => {
  const out = path.join(dir, 'seen');
  reporter(path.join(dir, 'server.js'), out);
  await pm.start({ name: 'electron-rules', script: 'server.js', cwd: dir, env: { ELECTRON_RUN_AS_NODE: 'yes' } });
  assert.equal(parse(await h.waitForFile(record)).ELECTRON_RUN_AS_NODE, 'yes');
  await pm.stop('electron-rules');
  require('node:fs').rmSync(record);
  await pm.start({ name: 'electron-rules', script: 'server.js', cwd: dir, interpreter: realExecPath });
  await h.waitForFile(out);
  assert.throws(() => require('node:fs').statSync(record), { code: 'ENOENT' }, 'the stand-in was not run');
});

test('a module folder runs under Electron as node', async () => {
  const out = path.join(dir, 'seen');
  h.write(path.join(dir, 'svc', 'package.json'), '{"main": "main.js"}');
  const main = reporter(path.join(dir, 'svc', 'main.js'), out);
  await pm.start({ name: 'electron-rules', cwd: path.join(dir, 'svc') });
  const rec = parse(await h.waitForFile(record));
  assert.deepEqual(rec.args, [main]);
  assert.equal(rec.ELECTRON_RUN_AS_NODE, '1');
  assert.equal(JSON.parse(await h.waitForFile(out)).argv1, main);
});

test('a node script inside app.asar is handed to Electron as it is (the ASAR path)', async () => {
  const archive = h.write(path.join(dir, 'resources', 'app.asar'), 'an archive only Electron reads');
  const script = path.join(archive, 'services', 'first', 'index.js');
  const r = await pm.start({ name: 'electron-rules', script: 'index.js', cwd: path.join(archive, 'services', 'first') });
  assert.ok(h.pidAlive(r.pid));
  const rec = parse(await h.waitForFile(record));
  assert.deepEqual(rec.args, [script]);
  assert.equal(rec.ELECTRON_RUN_AS_NODE, '1');
  assert.equal(rec.NODE_CHANNEL_FD, '3');
  // The daemon runs it in the directory holding the archive.
  assert.equal(rec.cwd, path.join(dir, 'resources'));
});

test('a python script inside app.asar runs from app.asar.unpacked, without Electron', async () => {
  h.write(path.join(dir, 'resources', 'app.asar'), 'x');
  const out = path.join(dir, 'py-ran');
  h.write(path.join(dir, 'resources', 'app.asar.unpacked', 'py', 'job.py'),
    `import os, sys\nopen(${JSON.stringify(out)}, 'w').write(sys.argv[0] + ' ' + os.getcwd() + '\\n')\n`);
  await pm.start({ name: 'electron-rules', script: 'job.py', cwd: path.join(dir, 'resources', 'app.asar', 'py'), restart: 'never' });
  const unpacked = path.join(dir, 'resources', 'app.asar.unpacked', 'py');
  assert.equal(await h.waitForFile(out), `${path.join(unpacked, 'job.py')} ${unpacked}\n`);
  assert.throws(() => require('node:fs').statSync(record), { code: 'ENOENT' }, 'the stand-in was not run');
});

test('an executable inside app.asar runs from app.asar.unpacked', async () => {
  h.write(path.join(dir, 'resources', 'app.asar'), 'x');
  const out = path.join(dir, 'tool-ran');
  const tool = h.write(path.join(dir, 'resources', 'app.asar.unpacked', 'bin', 'tool'),
    `#!/bin/sh\necho "$0" > '${out}'\n`, 0o755);
  await pm.start({ name: 'electron-rules', script: path.join(dir, 'resources', 'app.asar', 'bin', 'tool'), restart: 'never' });
  assert.equal(await h.waitForFile(out), `${tool}\n`);
});

test('without Electron nothing is rewritten: a script inside an archive needs an interpreter', async () => {
  delete process.versions.electron;
  const archive = h.write(path.join(dir, 'resources', 'app.asar'), 'x');
  await assert.rejects(pm.start({ name: 'electron-rules', script: path.join(archive, 'index.js') }),
    { code: 'SpawnFailed', message: /ASAR.*interpreter/s });
});
