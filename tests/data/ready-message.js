// A node child that says it is ready over its IPC channel (pm2's wait_ready):
// node ready-message.js GO MARKER FORM [PING_MS]
//   waits until the file GO exists, writes MARKER, then sends 'ready'
//   (FORM "string") or {ready: true} (FORM "object"); with PING_MS, then
//   pings every PING_MS ms ('watchdog' or {watchdog: true}, the same form).
'use strict';
const fs = require('fs');
const [go, marker, form, pingMs] = process.argv.slice(2);

function send(what) {
  process.send(form === 'object' ? { [what]: true } : what);
}

const wait = setInterval(() => {
  if (!fs.existsSync(go))
    return;
  clearInterval(wait);
  fs.writeFileSync(marker + '.tmp', `pid=${process.pid}\n`);
  fs.renameSync(marker + '.tmp', marker);
  // Noise first: other messages are not readiness.
  process.send({ hello: 'world', ready: false });
  send('ready');
  if (pingMs)
    setInterval(() => send('watchdog'), Number(pingMs));
}, 20);
// Keeps running (the channel alone would not keep it alive once unref'd).
setInterval(() => {}, 3600 * 1000);
