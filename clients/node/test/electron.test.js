// Unit tests of electron.js: interpreter, ELECTRON_RUN_AS_NODE and the
// app.asar.unpacked rewrites, as pure functions.
'use strict';

const { test } = require('node:test');
const assert = require('node:assert/strict');
const electron = require('../electron');

const ELECTRON = { versions: { node: '20.0.0', electron: '30.0.0' }, execPath: '/opt/App/app' };
const NODE = { versions: { node: '20.0.0' }, execPath: '/usr/bin/node' };
const dirs = (...list) => (p) => list.includes(p);
const run = (opts, proc = ELECTRON, isDirectory = dirs(), isFile = dirs()) =>
  electron.apply(opts, { ...proc, isDirectory, isFile });

test('plain node: options unchanged', () => {
  const opts = { script: 'a.js', cwd: '/srv' };
  assert.equal(run(opts, NODE), opts);
});

for (const script of ['server.js', 'server.mjs', 'server.cjs']) {
  test(`Electron, ${script}: runs under process.execPath as node`, () => {
    assert.deepEqual(run({ script, cwd: '/srv', env: { PORT: '1' } }), {
      script, cwd: '/srv', interpreter: '/opt/App/app', env: { PORT: '1', ELECTRON_RUN_AS_NODE: '1' },
    });
  });
}

test('Electron, module folder (a directory, or cwd without script): node', () => {
  assert.deepEqual(run({ script: 'svc', cwd: '/srv' }, ELECTRON, dirs('/srv/svc')), {
    script: 'svc', cwd: '/srv', interpreter: '/opt/App/app', env: { ELECTRON_RUN_AS_NODE: '1' },
  });
  assert.deepEqual(run({ cwd: '/srv/svc' }), {
    cwd: '/srv/svc', interpreter: '/opt/App/app', env: { ELECTRON_RUN_AS_NODE: '1' },
  });
});

test('Electron: a given interpreter is kept, and env is not touched', () => {
  const opts = { script: 'a.js', cwd: '/srv', interpreter: 'node' };
  assert.deepEqual(run(opts), opts);
});

test('Electron: env setting ELECTRON_RUN_AS_NODE is respected', () => {
  assert.deepEqual(run({ script: 'a.js', cwd: '/srv', env: { ELECTRON_RUN_AS_NODE: '' } }).env,
    { ELECTRON_RUN_AS_NODE: '' });
});

test('Electron: a non-node program is not given an interpreter', () => {
  for (const script of ['job.py', 'bin/tool', 'run.sh']) {
    const out = run({ script, cwd: '/srv' });
    assert.equal(out.interpreter, undefined, script);
    assert.equal(out.env, undefined, script);
  }
});

test('Electron: a non-node script inside app.asar moves to app.asar.unpacked', () => {
  assert.deepEqual(run({ script: '/opt/App/resources/app.asar/py/job.py', cwd: '/srv' }), {
    script: '/opt/App/resources/app.asar.unpacked/py/job.py', cwd: '/srv',
  });
  // Relative to a cwd inside the archive: both move.
  const unpackedTool = dirs('/opt/App/resources/app.asar.unpacked/svc/bin/tool');
  assert.deepEqual(run({ script: 'bin/tool', cwd: '/opt/App/resources/app.asar/svc' }, ELECTRON, dirs(), unpackedTool), {
    script: '/opt/App/resources/app.asar.unpacked/svc/bin/tool', cwd: '/opt/App/resources/app.asar.unpacked/svc',
  });
  // The archive itself as cwd.
  assert.equal(run({ script: 'x.py', cwd: '/opt/App/resources/app.asar' }).cwd,
    '/opt/App/resources/app.asar.unpacked');
});

test('Electron: a node script inside app.asar stays there (Electron reads it)', () => {
  assert.deepEqual(run({ script: '/opt/App/resources/app.asar/srv/index.js', cwd: '/srv' }), {
    script: '/opt/App/resources/app.asar/srv/index.js', cwd: '/srv',
    interpreter: '/opt/App/app', env: { ELECTRON_RUN_AS_NODE: '1' },
  });
});

test('Electron: a node program with cwd in app.asar: absolute script, unpacked cwd only if it exists', () => {
  const opts = { script: 'index.js', cwd: '/opt/App/resources/app.asar/services/first' };
  assert.deepEqual(run(opts), {
    script: '/opt/App/resources/app.asar/services/first/index.js',
    cwd: '/opt/App/resources/app.asar/services/first',
    interpreter: '/opt/App/app', env: { ELECTRON_RUN_AS_NODE: '1' },
  });
  assert.equal(run(opts, ELECTRON, dirs('/opt/App/resources/app.asar.unpacked/services/first')).cwd,
    '/opt/App/resources/app.asar.unpacked/services/first');
});

test('Electron: a module folder that is a cwd inside app.asar stays the script', () => {
  const cwd = '/opt/App/resources/app.asar/services/first';
  const unpacked = '/opt/App/resources/app.asar.unpacked/services/first';
  assert.deepEqual(run({ cwd }, ELECTRON, dirs(unpacked)), {
    script: cwd, cwd: unpacked, interpreter: '/opt/App/app', env: { ELECTRON_RUN_AS_NODE: '1' },
  });
});

test('Electron: an extensionless path inside app.asar is a module folder', () => {
  assert.equal(run({ script: '/opt/App/resources/app.asar/svc', cwd: '/srv' }).interpreter, '/opt/App/app');
});

test('archive paths: helpers', () => {
  assert.equal(electron.insideArchive('/a/app.asar/b.js'), true);
  assert.equal(electron.insideArchive('/a/app.asar'), false);
  assert.equal(electron.insideArchive('/a/.asar/b'), false);
  assert.equal(electron.insideArchive('/a/app.asar.unpacked/b'), false);
  assert.equal(electron.unpackedPath('/a/app.asar/b.py'), '/a/app.asar.unpacked/b.py');
  assert.equal(electron.unpackedPath('/a/b.py'), '/a/b.py');
});
