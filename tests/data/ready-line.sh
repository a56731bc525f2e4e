#!/bin/sh
# ready-line.sh GO MARKER: waits until the file GO exists, writes MARKER,
# then prints a few lines, one of which says it listens (in colour on
# stderr), and runs on.
while [ ! -e "$1" ]; do sleep 0.02; done
echo "pid=$$" > "$2.tmp" && mv "$2.tmp" "$2"
echo "loading config"
echo "almost listening on port 80 (not yet)"
printf '\033[32mlistening\033[0m on port 8080\n' >&2
echo "serving"
exec sleep 3600
