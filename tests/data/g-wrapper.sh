#!/bin/sh
# g-wrapper.sh PROGRAM ARGS...
# A service started through a wrapper that does not exec: sh runs PROGRAM in
# the foreground, in sh's own process group, and says how it ended. A SIGTERM
# to the group ends sh at once (its default action) while PROGRAM, which got
# the same signal, may still be shutting down.
"$@"
echo "g-wrapper: $1 exited with status $?"
