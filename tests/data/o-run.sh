#!/bin/sh
# o-run.sh PIDFILE
# Writes its pid to PIDFILE, then sleeps until a signal ends it.
echo $$ > "$1.tmp" && mv "$1.tmp" "$1"
exec sleep 1000
