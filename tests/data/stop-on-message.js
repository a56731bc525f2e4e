// Exits 0 as soon as the daemon's IPC message {"stopping":true} arrives.
// Writes its pid to argv[2] once the handler is installed; writes the message
// it got to argv[3].
'use strict';
const fs = require('fs');
process.on('message', (m) => {
  if (m && m.stopping === true) {
    if (process.argv[3]) fs.writeFileSync(process.argv[3], JSON.stringify(m));
    process.exit(0);
  }
});
fs.writeFileSync(process.argv[2] + '.tmp', process.pid + '\n');
fs.renameSync(process.argv[2] + '.tmp', process.argv[2]);
setInterval(() => {}, 1000);
