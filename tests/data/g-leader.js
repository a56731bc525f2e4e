// g-leader.js MEMBER-ARGS...
// A node main process that starts `sh g-member.sh MEMBER-ARGS...` in its own
// process group (not detached) and exits 0 as soon as it gets the daemon's
// {"stopping":true} on its IPC channel, leaving the member behind.
'use strict';
const path = require('path');
const { spawn } = require('child_process');

process.on('message', (m) => {
  if (m && m.stopping)
    process.exit(0);
});
spawn('/bin/sh', [path.join(__dirname, 'g-member.sh'), ...process.argv.slice(2)],
      { stdio: 'inherit' });
