#!/bin/sh
# o-family.sh PIDFILE [stubborn]
# Starts a grandchild in its process group that ignores SIGTERM, writes
# "CHILD GRANDCHILD" to PIDFILE (atomically), then sleeps until a signal ends
# it. With "stubborn" the child ignores SIGTERM too: only SIGKILL ends it.
[ "$2" = stubborn ] && trap '' TERM
(trap '' TERM; exec sleep 1000) &
echo "$$ $!" > "$1.tmp" && mv "$1.tmp" "$1"
exec sleep 1000
