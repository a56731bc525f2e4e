#!/usr/bin/env bash
# The daemon driven from a shell, as the README shows: busctl and gdbus on a
# private bus. Starts its own dbus-daemon and elife-pmd and stops only them.
set -euo pipefail

pmd="${ELIFE_PMD:?run through meson test}"
tmp=$(mktemp -d)
bus_pid=""
pmd_pid=""
cleanup () {
  [ -n "$pmd_pid" ] && kill -TERM "$pmd_pid" 2>/dev/null && wait "$pmd_pid" 2>/dev/null
  [ -n "$bus_pid" ] && kill "$bus_pid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT

fail () { echo "not ok: $*" >&2; exit 1; }

# shellcheck source=../../tools/private-bus.sh
. "$(dirname "$0")/../../tools/private-bus.sh"
start_private_bus "$tmp" || fail "dbus-daemon gave no address"
address=$bus_address

# shellcheck disable=SC2086
(cd "$tmp" && exec ${ELIFE_PMD_WRAPPER:-} "$pmd" --address "$address" --state-dir "$tmp/.state") \
  > "$tmp/pmd.out" 2> "$tmp/pmd.err" &
pmd_pid=$!
for _ in $(seq 1000); do
  busctl --address="$address" status org.elife.ProcessManager >/dev/null 2>&1 && break
  sleep 0.01
done

B=(busctl --address="$address")
M=(org.elife.ProcessManager /org/elife/ProcessManager org.elife.ProcessManager)

cat > "$tmp/svc.sh" <<'SH'
#!/bin/sh
echo "up $ELIFE_PM_NAME"
exec sleep 1000
SH
chmod +x "$tmp/svc.sh"

# busctl: Start, List, properties, Stop, errors.
out=$("${B[@]}" call "${M[@]}" Start 'a{sv}' 3 script s "$tmp/svc.sh" name s web \
      args as 1 port=8080)
[ "$out" = "u 1" ] || fail "busctl Start answered '$out'"
out=$("${B[@]}" call "${M[@]}" List)
case "$out" in 'a(ususu) 1 1 "web" '*' "running" 0') ;; *) fail "busctl List: $out" ;; esac
out=$("${B[@]}" get-property org.elife.ProcessManager /org/elife/ProcessManager/process/1 \
      org.elife.ProcessManager.Process Script)
[ "$out" = "s \"$tmp/svc.sh\"" ] || fail "Script property: $out"
out=$("${B[@]}" get-property "${M[@]}" Version)
[ "$out" = 's "0.1.0"' ] || fail "Version: $out"
if out=$("${B[@]}" call "${M[@]}" Stop s nobody 2>&1); then fail "Stop of nobody succeeded"; fi
case "$out" in *"No process is named"*) ;; *) fail "NotFound message: $out" ;; esac
if out=$("${B[@]}" call "${M[@]}" Start 'a{sv}' 1 scrpt s x 2>&1); then fail "bad key accepted"; fi
case "$out" in *"scrpt"*) ;; *) fail "InvalidArgs message: $out" ;; esac

# gdbus: Start with a GVariant text, the ObjectManager, Restart, Stop.
out=$(gdbus call --address "$address" -d org.elife.ProcessManager -o /org/elife/ProcessManager \
      -m org.elife.ProcessManager.Start "{'script': <'$tmp/svc.sh'>, 'name': <'api'>}")
[ "$out" = "(uint32 2,)" ] || fail "gdbus Start answered '$out'"
out=$(gdbus call --address "$address" -d org.elife.ProcessManager -o /org/elife/ProcessManager \
      -m org.freedesktop.DBus.ObjectManager.GetManagedObjects)
case "$out" in *"/org/elife/ProcessManager/process/2"*"'Name': <'api'>"*) ;; *) fail "GetManagedObjects: $out" ;; esac
out=$(gdbus call --address "$address" -d org.elife.ProcessManager -o /org/elife/ProcessManager \
      -m org.elife.ProcessManager.Restart api)
[ "$out" = "(uint32 1,)" ] || fail "gdbus Restart answered '$out'"
out=$(gdbus call --address "$address" -d org.elife.ProcessManager -o /org/elife/ProcessManager/process/2 \
      -m org.elife.ProcessManager.Process.Stop)
[ "$out" = "()" ] || fail "Process.Stop answered '$out'"
out=$("${B[@]}" call "${M[@]}" StopAll)
[ "$out" = "u 1" ] || fail "StopAll answered '$out'"

# The children's lines reached the daemon's standard output.
grep -qx "web: up web" "$tmp/pmd.out" || fail "no 'web: up web' line on stdout"
grep -qx "api: up api" "$tmp/pmd.out" || fail "no 'api: up api' line on stdout"

kill -TERM "$pmd_pid"
status=0
wait "$pmd_pid" || status=$?
pmd_pid=""
[ "$status" = 0 ] || fail "elife-pmd exited $status on SIGTERM"
echo "ok: busctl and gdbus"
