#!/bin/sh
# Starts a grandchild in its process group that ignores SIGTERM, writes the
# grandchild's pid to $1, then either exits at once ($2 = "exit") or runs
# until stopped (default SIGTERM action).
(trap '' TERM; exec sleep 1000) &
echo $! > "$1.tmp" && mv "$1.tmp" "$1"
[ "$2" = exit ] && exit 0
while :; do sleep 0.05; done
