#!/bin/sh
# Ignores SIGTERM (its sleeps inherit that): only SIGKILL ends it.
# Writes its pid to $1 once SIGTERM is ignored.
trap '' TERM
[ -n "$1" ] && echo $$ > "$1"
while :; do sleep 0.05; done
