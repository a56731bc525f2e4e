#!/bin/sh
# Writes its environment to $1 (atomically), its working directory to $1.pwd,
# then runs until stopped.
out="$1"
pwd > "$out.pwd.tmp" && mv "$out.pwd.tmp" "$out.pwd"
env > "$out.tmp" && mv "$out.tmp" "$out"
while :; do sleep 0.05; done
