#!/bin/sh
# g-member.sh READY MODE [MARKER]
# A member of a service's process group. MODE "handle": on SIGTERM it waits
# 0.3 s, writes "done" to MARKER and exits 0; MODE "ignore": SIGTERM is
# ignored (its sleeps inherit that), only SIGKILL ends it. Writes its pid to
# READY once its trap is set. Both files are written atomically.
case "$2" in
  handle) trap 'sleep 0.3; echo done > "$3.tmp" && mv "$3.tmp" "$3"; exit 0' TERM ;;
  ignore) trap '' TERM ;;
esac
echo $$ > "$1.tmp" && mv "$1.tmp" "$1"
while :; do sleep 0.05; done
