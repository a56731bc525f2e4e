#!/bin/sh
# Prints one line on stdout and one on stderr, then runs until stopped.
echo "hello stdout"
echo "hello stderr" >&2
while :; do sleep 0.05; done
