#!/bin/sh
# r-stamp.sh LOG [CODE] [SECONDS] [FAILS]
# Appends "start NS" to LOG (wall clock, ns), sleeps SECONDS when given, appends
# "end NS" and exits with CODE (default 1; "KILL" kills itself with SIGKILL).
# With FAILS = N only the first N runs (counted by the starts in LOG) end with
# CODE; later runs exit 0. The end stamp is written before the exit, so the
# exit the daemon sees is always after it.
log="$1"
code="${2:-1}"
echo "start $(date +%s%N)" >> "$log"
if [ -n "$3" ] && [ "$3" != 0 ]; then sleep "$3"; fi
if [ -n "$4" ] && [ "$(grep -c '^start' "$log")" -gt "$4" ]; then code=0; fi
echo "end $(date +%s%N)" >> "$log"
[ "$code" = KILL ] && kill -KILL $$
exit "$code"
