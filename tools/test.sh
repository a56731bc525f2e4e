#!/usr/bin/env bash
# Installs what is missing, then runs the whole test suite three ways, as
# CI does: a -Werror build, an ASan+UBSan build, and memcheck on every
# daemon the integration tests start; then a short run of each fuzzer.
#   tools/test.sh           everything (about 25–30 minutes on 2 cores)
#   tools/test.sh --quick   the -Werror build only
# Extra arguments after the options go to `meson test` (e.g. a test name).
# No session bus is needed: every test starts its own.
set -uo pipefail
cd "$(dirname "$0")/.."

quick=0
if [ "${1:-}" = "--quick" ]; then quick=1; shift; fi

if [ "$quick" = 1 ]; then
  tools/deps.sh || exit 1
else
  ELIFE_PM_VALGRIND=1 tools/deps.sh || exit 1
fi

passed=0
failed=0
failures=()

# Counts the meson tests of one run from its JSON log; the failed ones are
# named, and the end of their output kept for the summary (CI shows only
# the last part of what this script prints).
details=$(mktemp)
trap 'rm -f "$details"' EXIT
tally () {
  local log=$1 name=$2 counts
  counts=$(python3 - "$log" "$name" "$details" <<'PY'
import json, re, sys
ok = bad = 0
with open(sys.argv[3], "a") as out:
    for line in open(sys.argv[1]):
        r = json.loads(line)
        if r["result"] in ("OK", "SKIP", "EXPECTEDFAIL"):
            ok += 1
            continue
        bad += 1
        text = (r.get("stdout") or "") + (r.get("stderr") or "")
        tail = text.splitlines()[-40:]
        out.write("---- %s: %s %s after %.1f s\n"
                  % (sys.argv[2], r["name"], r["result"], r.get("duration", 0)))
        # What failed, even when it lies far above the tail: the failed
        # cases and their assertions (GTest quotes a case's stderr inside
        # one line, with its newlines escaped).
        seen = []
        for m in re.finditer(r'(not ok [^\n]*|ERROR:(?:(?!\\n)[^\n]){0,300}|Bail out[^\n]*)', text):
            line = m.group(1)
            if "run_case" not in line and line not in seen:
                seen.append(line)
        if seen:
            out.write("what failed:\n" + "\n".join(seen[:12]) + "\n")
        out.write("its last lines:\n" + "\n".join(tail) + "\n")
print(ok, bad)
PY
)
  set -- $counts
  passed=$((passed + $1))
  failed=$((failed + $2))
  [ "$2" = 0 ] || failures+=("$name")
}

run () {
  local name=$1 dir=$2 logname=$3
  shift 3
  echo "==== $name"
  if ! meson test -C "$dir" --print-errorlogs --num-processes 2 "$@"; then
    echo "==== $name: FAILED"
  fi
  if [ -f "$dir/meson-logs/$logname" ]; then
    tally "$dir/meson-logs/$logname" "$name"
  else
    failed=$((failed + 1)); failures+=("$name")
  fi
}

setup () {
  local dir=$1
  shift
  if [ -f "$dir/build.ninja" ]; then
    meson configure "$dir" "$@" >/dev/null
  else
    meson setup "$dir" "$@" >/dev/null
  fi && meson compile -C "$dir"
}

# 1. The normal build, warnings as errors; it alone runs the packaging suite
# (meson dist's tarball, the Debian package: a few minutes, once).
if setup build -Dwerror=true; then
  run "normal" build testlog.json "$@"
else
  failed=$((failed + 1)); failures+=("normal build")
fi

if [ "$quick" = 0 ]; then
  # 2. AddressSanitizer + UndefinedBehaviorSanitizer, halting on the first
  # error; LeakSanitizer checks every daemon at exit.
  if setup build-asan -Dwerror=true -Db_sanitize=address,undefined -Db_lundef=false \
       -Dc_args=-fno-sanitize-recover=all; then
    ELIFE_PM_TEST_SANITIZED=1 \
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1 \
    UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
      run "asan+ubsan" build-asan testlog.json --no-suite packaging "$@"
  else
    failed=$((failed + 1)); failures+=("asan build")
  fi

  # 3. memcheck on the daemon (tests/meson.build: the valgrind setup).
  run "valgrind" build testlog-valgrind.json --setup=valgrind --suite integration "$@"

  # 4. The fuzzers, briefly (tools/fuzz.sh; FUZZ_SECONDS to change).
  echo "==== fuzz"
  if FUZZ_SECONDS=${FUZZ_SECONDS:-60} tools/fuzz.sh; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1)); failures+=("fuzz")
  fi
fi

echo
cat "$details"
[ "${#failures[@]}" = 0 ] || echo "failed: ${failures[*]}"
echo "${passed} passed, ${failed} failed"
[ "$failed" = 0 ]
