#!/usr/bin/env bash
# tools/run.sh without a session bus: whatever ends it — Ctrl-C (SIGINT to
# its process group), the daemon's own exit, a SIGTERM to the script — the
# daemon, its children and the private dbus-daemon are gone afterwards and
# so is the bus's directory. Each run gets its own session (setsid), so
# "nothing left" is "no process left in that session"; only those are
# ever killed here.
set -euo pipefail

pmd="${ELIFE_PMD:?run through meson test}"
src=$(cd "$(dirname "$0")/../.." && pwd)
slow=${ELIFE_PM_TEST_SLOW:-1}
tmp=$(mktemp -d)
sid=""
cleanup () {
  set +e
  [ -n "$sid" ] && for p in $(session_pids "$sid"); do kill -KILL "$p" 2>/dev/null; done
  rm -rf "$tmp"
}
trap cleanup EXIT

fail () { echo "not ok - $*" >&2; exit 1; }
session_pids () { ps -e -o pid=,sid= | awk -v s="$1" '$2 == s { print $1 }'; }

# Waits up to $1 seconds (scaled) for the command after it to succeed.
wait_for () {
  local n=$(( $1 * 100 * slow )); shift
  for _ in $(seq "$n"); do "$@" && return 0; sleep 0.01; done
  return 1
}

# Starts tools/run.sh [--system] in a new session; sets sid, address,
# daemon_pid, bus_dir.
start_run_sh () {
  : > "$tmp/out"
  local daemon_args=(--state-dir "$tmp/state")
  [ "${1:-}" = --system ] && daemon_args=()   # run.sh --system picks its own
  env -u DBUS_SESSION_BUS_ADDRESS ELIFE_PMD="$pmd" XDG_RUNTIME_DIR="$tmp" \
    setsid "$src/tools/run.sh" "$@" "${daemon_args[@]}" > "$tmp/out" 2>&1 &
  sid=$!
  wait_for 30 grep -q 'busctl --address=' "$tmp/out" || fail "run.sh printed no address: $(cat "$tmp/out")"
  address=$(sed -n 's/^  busctl --address=\([^ ]*\) .*$/\1/p' "$tmp/out")
  bus_dir=$(printf '%s\n' "$address" | sed -n 's/^unix:path=\(.*\)\/[^/]*$/\1/p')
  [ -d "$bus_dir" ] || fail "no bus directory in $address"
  wait_for 30 busctl --address="$address" status org.elife.ProcessManager >/dev/null 2>&1 \
    || fail "the daemon did not come up: $(cat "$tmp/out")"
  daemon_pid=$(busctl --address="$address" call org.freedesktop.DBus /org/freedesktop/DBus \
               org.freedesktop.DBus GetConnectionUnixProcessID s org.elife.ProcessManager | cut -d' ' -f2)
  cat > "$tmp/child.sh" <<'SH'
#!/bin/sh
exec sleep 1000
SH
  chmod +x "$tmp/child.sh"
  busctl --address="$address" call org.elife.ProcessManager /org/elife/ProcessManager \
    org.elife.ProcessManager Start 'a{sv}' 1 script s "$tmp/child.sh" >/dev/null \
    || fail "Start through the private bus"
  [ "$(session_pids "$sid" | wc -l)" -ge 4 ] || fail "expected run.sh, bus, daemon, child in the session"
}

# Waits for run.sh to end and checks that nothing of it is left.
check_all_gone () {
  local what=$1 status=0
  wait_for 60 sh -c "! kill -0 $sid 2>/dev/null" || fail "$what: run.sh still running"
  wait "$sid" || status=$?
  wait_for 30 sh -c "[ -z \"\$(ps -e -o sid= | awk -v s=$sid '\$1 == s')\" ]" \
    || fail "$what: left behind: $(ps -o pid,comm -s "$sid" 2>/dev/null)"
  [ ! -e "$bus_dir" ] || fail "$what: $bus_dir is still there"
  sid=""
  echo "ok - $what (run.sh exit status $status)"
}

start_run_sh
kill -INT -- "-$sid"
check_all_gone "Ctrl-C ends the daemon, its child and the private bus"

start_run_sh
kill -TERM "$daemon_pid"
check_all_gone "the daemon's exit ends the private bus"

start_run_sh
kill -TERM "$sid"
check_all_gone "SIGTERM to run.sh ends the daemon, its child and the private bus"

start_run_sh
kill -INT -- "-$sid"
kill -INT -- "-$sid" 2>/dev/null || true
check_all_gone "two Ctrl-C in a row still end everything"

if [ "$(id -u)" = 0 ] && [ -f "$src/tools/system-bus.conf.in" ]; then
  start_run_sh --system
  kill -INT -- "-$sid"
  check_all_gone "run.sh --system: Ctrl-C ends the daemon, its child and the private system-like bus"
  start_run_sh --system
  kill -TERM "$daemon_pid"
  check_all_gone "run.sh --system: the daemon's exit ends the private system-like bus"
else
  echo "# run.sh --system not checked (needs root)"
fi
