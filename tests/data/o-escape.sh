#!/bin/sh
# o-escape.sh PIDFILE CODE
# Starts a grandchild that leaves the process group (setsid) and whose parent
# exits at once, so the subreaper adopts it; it lives 0.5 s. Writes its pid
# to PIDFILE (atomically), waits 1 s and exits with CODE.
(setsid sleep 0.5 & echo $! > "$1.tmp" && mv "$1.tmp" "$1")
sleep 1
exit "${2:-0}"
