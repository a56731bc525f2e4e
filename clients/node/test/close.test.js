// close() ends the connection so that node can exit: a node process that
// uses the client and closes it exits by itself.
'use strict';

const { test } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./helpers');

const PKG = JSON.stringify(h.PACKAGE);

test('start, stop, close: node exits by itself', async () => {
  const r = await h.runNode(['-e', `
    const pm = require(${PKG});
    (async () => {
      await pm.start({ name: 'close-test', script: '/bin/sleep', args: ['600'] });
      await pm.stop('close-test');
      await pm.close();
      console.log('closed');
    })();
  `]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'closed');
});

test('a client listening for events exits after close()', async () => {
  const r = await h.runNode(['-e', `
    const pm = require(${PKG});
    pm.on('exited', () => {});
    pm.list().then(() => pm.close()).then(() => console.log('closed'));
  `]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'closed');
});

test('a client with a callback-watched process exits after close()', async () => {
  const r = await h.runNode(['-e', `
    const pm = require(${PKG});
    pm.start({ name: 'close-cb', script: '/bin/sleep', args: ['600'] }, (err, pid) => {
      if (pid) pm.stop('close-cb').then(() => pm.close());
    });
  `]);
  assert.equal(r.code, 0, r.stderr);
});
