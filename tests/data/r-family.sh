#!/bin/sh
# r-family.sh LOG
# Each run first reports on the previous run's grandchild (the last pid in
# LOG) as a line "prev PID STATE" appended to LOG.check, where STATE is the
# /proc state letter or "gone"; then starts a grandchild in its own process
# group that ignores SIGTERM, appends that pid to LOG, and exits 1.
log="$1"
if [ -f "$log" ]; then
  prev=$(tail -n 1 "$log")
  st=$(sed -n 's/.*) \(.\).*/\1/p' "/proc/$prev/stat" 2>/dev/null)
  echo "prev $prev ${st:-gone}" >> "$log.check"
fi
(trap '' TERM; exec sleep 1000) &
echo $! >> "$log"
exit 1
