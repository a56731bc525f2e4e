// Sends many IPC messages the daemon must read and discard, then writes
// argv[2] ("done") and runs until stopped.
'use strict';
const fs = require('fs');
const N = 20000;
let i = 0;
function burst() {
  while (i < N) {
    i++;
    if (!process.send({ chatter: i, pad: 'x'.repeat(200) })) {
      // The channel is full: wait until the daemon reads.
      setImmediate(burst);
      return;
    }
  }
  fs.writeFileSync(process.argv[2], 'done\n');
}
burst();
setInterval(() => {}, 1000);
