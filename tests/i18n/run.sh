#!/usr/bin/env bash
# The German translation is used: --help, a usage error and D-Bus error
# messages of the daemon (and of the CLI, when it is built) under
# LANGUAGE=de with a German locale, the translations taken from the build
# tree (ELIFE_PM_LOCALEDIR). The locale de_DE.UTF-8 is generated when it is
# missing and we are root (as in CI); otherwise the test is skipped (77).
set -euo pipefail

pmd="${ELIFE_PMD:?run through meson test}"
localedir="${ELIFE_PM_LOCALEDIR:?run through meson test}"
cli="${ELIFE_PM_CLI:-}"
tmp=$(mktemp -d)
bus_pid=""
pmd_pid=""
cleanup () {
  set +e
  [ -n "$pmd_pid" ] && kill -TERM "$pmd_pid" 2>/dev/null && wait "$pmd_pid" 2>/dev/null
  [ -n "$bus_pid" ] && kill "$bus_pid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT

fail () { echo "not ok - $*" >&2; exit 1; }
skip () { echo "SKIP: $*"; exit 77; }

have_locale () { locale -a 2>/dev/null | grep -qiE '^de_DE\.utf-?8$'; }
if ! have_locale; then
  [ "$(id -u)" = 0 ] || skip "no de_DE.UTF-8 locale, and only root can generate it (localedef)"
  command -v localedef >/dev/null && [ -e /usr/share/i18n/locales/de_DE ] \
    || skip "no de_DE.UTF-8 locale and no locale sources to generate it (apt-get install locales)"
  echo "# generating de_DE.UTF-8 with localedef"
  localedef -i de_DE -c -f UTF-8 de_DE.UTF-8 || skip "localedef could not generate de_DE.UTF-8"
  have_locale || skip "de_DE.UTF-8 still missing after localedef"
fi
[ -e "$localedir/de/LC_MESSAGES/elife-pm.mo" ] || fail "no $localedir/de/LC_MESSAGES/elife-pm.mo"

de () { env LANGUAGE=de LC_ALL=de_DE.UTF-8 ELIFE_PM_LOCALEDIR="$localedir" "$@"; }
expect () {
  local what=$1 text=$2 want=$3
  case "$text" in *"$want"*) echo "ok - $what" ;; *) fail "$what: no “$want” in: $text" ;; esac
}

# The daemon's --help and a usage error.
expect "elife-pmd --help in German" "$(de "$pmd" --help)" "Den Sitzungsbus verwenden"
status=0; out=$(de "$pmd" --session --system 2>&1) || status=$?
[ "$status" = 2 ] || fail "elife-pmd --session --system exited $status"
expect "elife-pmd usage error in German" "$out" "schließen einander aus"

# D-Bus error messages from a daemon running in German.
. "$(dirname "$0")/../../tools/private-bus.sh"
start_private_bus "$tmp" || fail "dbus-daemon gave no address"
address=$bus_address
# shellcheck disable=SC2086
(cd "$tmp" && de ${ELIFE_PMD_WRAPPER:-} "$pmd" --address "$address" --state-dir "$tmp/.state") \
  > "$tmp/pmd.out" 2> "$tmp/pmd.err" &
pmd_pid=$!
up=0
for _ in $(seq $((3000 * ${ELIFE_PM_TEST_SLOW:-1}))); do
  if busctl --address="$address" status org.elife.ProcessManager >/dev/null 2>&1; then up=1; break; fi
  sleep 0.01
done
[ "$up" = 1 ] || fail "the daemon did not come up: $(cat "$tmp/pmd.err")"
M=(org.elife.ProcessManager /org/elife/ProcessManager org.elife.ProcessManager)
out=$(busctl --address="$address" call "${M[@]}" Stop s nobody 2>&1) && fail "Stop of nobody succeeded"
expect "NotFound message in German" "$out" "Kein Prozess heißt „nobody“"
out=$(busctl --address="$address" call "${M[@]}" Start 'a{sv}' 1 scrpt s x 2>&1) && fail "bad key accepted"
expect "InvalidArgs message in German" "$out" "Unbekannte Option „scrpt“"
out=$(busctl --address="$address" call "${M[@]}" Start 'a{sv}' 1 script s /nonexistent/x.sh 2>&1) \
  && fail "missing script accepted"
expect "SpawnFailed message in German" "$out" "Skript „/nonexistent/x.sh“"

# The CLI, when this tree builds it.
if [ -n "$cli" ] && [ -x "$cli" ]; then
  help=$(de "$cli" --help)
  expect "elife-pm --help in German: commands" "$help" "Befehle:"
  expect "elife-pm --help in German: options" "$help" "Mit elife-pmd auf dem Sitzungsbus sprechen"
  expect "elife-pm start --help in German" "$(de "$cli" start --help)" "Name des Prozesses"
  status=0; out=$(de "$cli" bogus 2>&1) || status=$?
  [ "$status" = 2 ] || fail "elife-pm bogus exited $status"
  expect "elife-pm usage error in German" "$out" "Unbekannter Befehl „bogus“"
  status=0; out=$(de "$cli" --address "$address" stop nobody 2>&1) || status=$?
  [ "$status" = 1 ] || fail "elife-pm stop nobody exited $status"
  expect "elife-pm error from the daemon in German" "$out" "Kein Prozess heißt „nobody“"
  status=0; out=$(de "$cli" --address "$address" start /nonexistent/x.sh 2>&1) || status=$?
  [ "$status" = 1 ] || fail "elife-pm start /nonexistent/x.sh exited $status"
  expect "elife-pm start error in German" "$out" "„/nonexistent/x.sh“"
else
  echo "# elife-pm is not built in this tree: only the daemon checked"
fi
