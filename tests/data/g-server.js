// g-server.js READY MARKER
// A server that shuts down cleanly on SIGTERM: 0.3 s after the signal it
// writes "done" to MARKER and exits 0. Writes its pid to READY once its
// handler is installed. Both files are written atomically.
'use strict';
const fs = require('fs');
const [ready, marker] = process.argv.slice(2);

function writeAtomically(path, text) {
  fs.writeFileSync(path + '.tmp', text);
  fs.renameSync(path + '.tmp', path);
}

process.on('SIGTERM', () => {
  setTimeout(() => {
    writeAtomically(marker, 'done\n');
    process.exit(0);
  }, 300);
});
writeAtomically(ready, process.pid + '\n');
setInterval(() => {}, 1000);
