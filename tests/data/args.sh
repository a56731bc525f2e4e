#!/bin/sh
# Writes each argument after $1 on its own line to $1 (atomically), then runs until stopped.
out="$1"
shift
: > "$out.tmp"
for a in "$@"; do printf '%s\n' "$a" >> "$out.tmp"; done
mv "$out.tmp" "$out"
while :; do sleep 0.05; done
