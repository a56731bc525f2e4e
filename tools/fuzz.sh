#!/usr/bin/env bash
# Builds the libFuzzer harnesses in fuzz/ (clang, ASan+UBSan) in build-fuzz/
# and runs each for $FUZZ_SECONDS seconds (default 60) on a temporary copy of
# its seed corpus, so that the committed corpus does not grow. Exits non-zero
# if any fuzzer finds a crash, a leak, a hang or an oracle failure; the input
# that did it is kept in $FUZZ_ARTIFACTS (default build-fuzz/fuzz-artifacts).
#
#   tools/fuzz.sh                     both fuzzers, 60 s each
#   FUZZ_SECONDS=600 tools/fuzz.sh lines
#   tools/fuzz.sh options -- -jobs=2 -workers=2   extra libFuzzer flags
#
# See fuzz/README.md for longer runs and for turning a crash into a test.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${FUZZ_SECONDS:-60}
builddir=${FUZZ_BUILDDIR:-build-fuzz}
artifacts=${FUZZ_ARTIFACTS:-$builddir/fuzz-artifacts}

fuzzers=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
  case "$1" in
    options|lines) fuzzers+=("$1") ;;
    *) echo "Unknown fuzzer: $1 (options or lines)" >&2; exit 2 ;;
  esac
  shift
done
[ "${1:-}" = "--" ] && shift
[ "${#fuzzers[@]}" -gt 0 ] || fuzzers=(options lines)

# Inputs longer than the default 4 KiB are needed to cross the options'
# length limits; the lines fuzzer expands its own runs (see fuzz-lines.c).
declare -A max_len=([options]=16384 [lines]=4096)

tools/deps.sh

# clang and its libFuzzer runtime: probe by linking a trivial fuzzer.
probe_fuzzer () {
  local dir
  dir=$(mktemp -d)
  echo 'int LLVMFuzzerTestOneInput (const char *d, unsigned long n) { return 0; }' > "$dir/p.c"
  clang -fsanitize=fuzzer,address,undefined "$dir/p.c" -o "$dir/p" >/dev/null 2>&1
  local rc=$?
  rm -rf "$dir"
  return $rc
}
if ! command -v clang >/dev/null || ! probe_fuzzer; then
  echo "Installing: clang libclang-rt-14-dev"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends clang libclang-rt-14-dev
  probe_fuzzer || { echo "clang cannot build a libFuzzer binary" >&2; exit 1; }
fi

if [ ! -f "$builddir/build.ninja" ]; then
  CC=clang meson setup "$builddir" -Dfuzzing=true -Db_sanitize=address,undefined -Db_lundef=false
else
  meson configure "$builddir" -Dfuzzing=true -Db_sanitize=address,undefined -Db_lundef=false
fi
targets=()
for f in "${fuzzers[@]}"; do targets+=("fuzz/fuzz-$f"); done
ninja -C "$builddir" "${targets[@]}"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$artifacts"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

failed=()
for f in "${fuzzers[@]}"; do
  cp -r "fuzz/corpus/$f" "$work/$f"
  echo "== fuzz-$f for ${seconds}s"
  if ! "$builddir/fuzz/fuzz-$f" \
      -max_total_time="$seconds" -timeout=10 -max_len="${max_len[$f]}" \
      -dict="fuzz/$f.dict" -artifact_prefix="$artifacts/$f-" \
      -print_final_stats=1 "$@" "$work/$f"; then
    failed+=("$f")
  fi
done

if [ "${#failed[@]}" -gt 0 ]; then
  echo "FAILED: ${failed[*]}; reproducers in $artifacts:" >&2
  ls -l "$artifacts" >&2
  exit 1
fi
echo "No crash in ${fuzzers[*]} (${seconds}s each)."
