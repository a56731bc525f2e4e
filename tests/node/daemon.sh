# tests/node/daemon.sh — sourced by tests/node/run.sh and tests/node/client.sh:
# what both need around their `node --test`. Only what it started is
# stopped, by PID.
#
#   node_test_npm NAME DIR   installs DIR's dependencies (npm ci, or npm
#                            install without a lock file) when node_modules
#                            lacks dbus-next
#   node_test_start NAME [log]
#                            a temp dir ($tmp), a private bus in it
#                            ($address) and $pmd on it ($pmd_pid), waited
#                            for until it owns its name; its output goes to
#                            stderr, or with "log" to $tmp/pmd.log. Every one
#                            of them goes when the script exits.
#   node_test_stop NAME      the daemon must still be alive and exit 0 on
#                            SIGTERM; returns 1 (saying why) when not
# NAME prefixes the messages. ELIFE_PMD_WRAPPER (valgrind, from meson test
# --setup=valgrind) is put before the daemon, word-split on purpose.

node_test_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../../tools/private-bus.sh
. "$node_test_dir/../../tools/private-bus.sh"

tmp=""
bus_pid=""
pmd_pid=""

node_test_npm () {
  local name=$1 dir=$2
  [ -d "$dir/node_modules/dbus-next" ] && return 0
  echo "$name: installing dbus-next" >&2
  if [ -f "$dir/package-lock.json" ]; then
    (cd "$dir" && npm ci --no-audit --no-fund >&2)
  else
    (cd "$dir" && npm install --no-audit --no-fund >&2)
  fi
}

node_test_cleanup () {
  local rc=$?
  if [ -n "$pmd_pid" ] && kill -0 "$pmd_pid" 2>/dev/null; then
    kill -TERM "$pmd_pid" 2>/dev/null || true
    wait "$pmd_pid" 2>/dev/null || true
  fi
  if [ -n "$bus_pid" ] && kill -0 "$bus_pid" 2>/dev/null; then
    kill -TERM "$bus_pid" 2>/dev/null || true
    wait "$bus_pid" 2>/dev/null || true
  fi
  [ -z "$tmp" ] || rm -rf "$tmp"
  exit "$rc"
}

node_test_start () {
  local name=$1 out=/dev/stderr
  tmp="$(mktemp -d "${TMPDIR:-/tmp}/elife-pm-$name-XXXXXX")"
  trap node_test_cleanup EXIT INT TERM
  [ "${2:-}" != log ] || out="$tmp/pmd.log"
  if ! start_private_bus "$tmp"; then
    echo "$name: dbus-daemon did not print its address" >&2
    return 1
  fi
  address=$bus_address
  echo "$name: private bus at $address" >&2
  # It runs in the temp dir: its working directory is its children's
  # default cwd.
  # shellcheck disable=SC2086
  (cd "$tmp" && exec ${ELIFE_PMD_WRAPPER:-} "$pmd" --address "$address" --verbose \
     --state-dir "$tmp/.state") >"$out" 2>&1 &
  pmd_pid=$!
  # Under valgrind it takes seconds.
  if ! gdbus wait --address "$address" --timeout $((30 * ${ELIFE_PM_TEST_SLOW:-1})) \
       org.elife.ProcessManager; then
    echo "$name: elife-pmd did not take its name" >&2
    [ "$out" = /dev/stderr ] || cat "$out" >&2
    return 1
  fi
}

node_test_stop () {
  local name=$1 rc=0
  if ! kill -0 "$pmd_pid" 2>/dev/null; then
    echo "$name: elife-pmd died during the test" >&2
    return 1
  fi
  kill -TERM "$pmd_pid"
  wait "$pmd_pid" || rc=$?
  pmd_pid=""
  if [ "$rc" -ne 0 ]; then
    echo "$name: elife-pmd exited $rc on SIGTERM" >&2
    return 1
  fi
}
