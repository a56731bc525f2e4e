#!/bin/sh
# g-exit.sh DIR
# A main process that exits on its own. Run 1 starts two members in its
# process group, one handling SIGTERM (g-member.sh handle, marker DIR/marker)
# and one ignoring it; once both are ready it writes their pids to DIR/pids,
# the time (ns since the epoch) to DIR/exit-time, and exits 3. The next run
# writes its start time to DIR/start-time and, for each pid in DIR/pids,
# "PID STATE" to DIR/check (STATE: the /proc state letter, or "gone"), then
# sleeps until stopped. Every file is written atomically.
d="$1"
here=$(dirname "$0")
if [ -f "$d/pids" ]; then
  date +%s%N > "$d/start-time.tmp" && mv "$d/start-time.tmp" "$d/start-time"
  for p in $(cat "$d/pids"); do
    st=$(sed -n 's/.*) \(.\).*/\1/p' "/proc/$p/stat" 2>/dev/null)
    echo "$p ${st:-gone}" >> "$d/check.tmp"
  done
  mv "$d/check.tmp" "$d/check"
  exec sleep 1000
fi
sh "$here/g-member.sh" "$d/handler.pid" handle "$d/marker" &
sh "$here/g-member.sh" "$d/ignorer.pid" ignore &
until [ -f "$d/handler.pid" ] && [ -f "$d/ignorer.pid" ]; do sleep 0.02; done
cat "$d/handler.pid" "$d/ignorer.pid" > "$d/pids.tmp" && mv "$d/pids.tmp" "$d/pids"
date +%s%N > "$d/exit-time.tmp" && mv "$d/exit-time.tmp" "$d/exit-time"
exit 3
