#!/bin/sh
# Exits 0 on SIGTERM. Writes its pid to $1 once the trap is set.
trap 'exit 0' TERM
[ -n "$1" ] && echo $$ > "$1"
while :; do sleep 0.05; done
