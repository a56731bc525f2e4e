#!/usr/bin/env bash
# bench/run.sh — the elife-pm benchmark suite (issue 6; issue 3's restart bench).
#
# Builds the daemon and the benchmark's C client, installs missing anchors
# (apt: supervisor s6; npm: pm2 into /tmp/elife-pm-bench-pm2), runs every
# measurement on a private dbus-daemon, prints the table and writes it to
# bench/results/RESULTS.md. See bench/README.md.
#
# Environment:
#   BENCH_ANCHORS=supervisord,pm2,s6   which anchors to run (empty: none)
#   BENCH_IDLE_SECS=10                 idle and crash-loop windows
#   BENCH_SKIP_LOG=1                   skip bench/log-throughput (items 1–2)
#   BENCH_SKIP_SCALE=1                 skip bench/scale.py (10,000 children)
#   BENCH_KEEP_TMP=1                   keep the run's temp dir
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
build=${BENCH_BUILD_DIR:-$root/build}
results=$here/results
pm2_dir=/tmp/elife-pm-bench-pm2
anchors=${BENCH_ANCHORS-supervisord,pm2,s6}

say() { printf '[bench] %s\n' "$*" >&2; }

# ---- build -------------------------------------------------------------------
if [ ! -f "$build/build.ninja" ]; then
  say "meson setup $build"
  meson setup "$build" "$root" >/dev/null
fi
say "meson compile"
meson compile -C "$build" >/dev/null
pmd=$build/src/elife-pmd

tmp=$(mktemp -d /tmp/elife-pm-bench.XXXXXX)
export BENCH_TMP=$tmp
cleanup() { [ -n "${BENCH_KEEP_TMP:-}" ] || rm -rf "$tmp"; }
trap cleanup EXIT

driver=$tmp/pmdrv
# shellcheck disable=SC2046
cc -O2 -o "$driver" "$here/pmdrv.c" $(pkg-config --cflags --libs gio-2.0) -lm

# ---- anchors -------------------------------------------------------------------
need_apt=()
case ",$anchors," in *,supervisord,*) command -v supervisord >/dev/null || need_apt+=(supervisor);; esac
case ",$anchors," in *,s6,*) command -v s6-svscan >/dev/null || need_apt+=(s6);; esac
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    say "apt-get install ${need_apt[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y "${need_apt[@]}" >/dev/null ||
      { apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y "${need_apt[@]}" >/dev/null; }
  else
    say "not root: cannot install ${need_apt[*]}; those anchors will fail"
  fi
fi
# The Debian supervisor package enables a system-wide supervisord; the suite
# runs its own private instances and leaves the system one alone.

pm2=""
case ",$anchors," in
  *,pm2,*)
    if [ ! -x "$pm2_dir/node_modules/.bin/pm2" ]; then
      if command -v npm >/dev/null; then
        say "npm install pm2 into $pm2_dir"
        mkdir -p "$pm2_dir"
        (cd "$pm2_dir" && npm install --no-audit --no-fund --loglevel=error pm2 >/dev/null)
      else
        say "no npm: skipping pm2"
      fi
    fi
    [ -x "$pm2_dir/node_modules/.bin/pm2" ] && pm2=$pm2_dir/node_modules/.bin/pm2
    ;;
esac

# 1000 children with two pipes each, plus the anchors' own needs.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# ---- items 1–2: log throughput (bench/log-throughput.*, written separately) ------
extra=""
if [ -z "${BENCH_SKIP_LOG:-}" ]; then
  lt=""
  for f in "$here"/log-throughput.sh "$here"/log-throughput.py; do
    [ -f "$f" ] && { lt=$f; break; }
  done
  if [ -n "$lt" ]; then
    say "log throughput: $lt"
    extra=$tmp/log-throughput.md
    case $lt in
      *.py) timeout 400 python3 "$lt" >"$extra" 2>"$tmp/log-throughput.err" || say "log throughput failed (see output)";;
      *)    timeout 400 bash "$lt" >"$extra" 2>"$tmp/log-throughput.err" || say "log throughput failed (see output)";;
    esac
  else
    say "no bench/log-throughput.* yet: items 1–2 skipped"
  fi
fi

# ---- issue 17: 10,000 children (bench/scale.py, written separately) ---------------
if [ -z "${BENCH_SKIP_SCALE:-}" ]; then
  say "scale: bench/scale.py"
  PMDRV=$driver ELIFE_PMD=$pmd timeout 1800 python3 "$here/scale.py" >"$tmp/scale.md" \
    2>"$tmp/scale.err" || say "scale failed (see $tmp/scale.err)"
  if [ -s "$tmp/scale.md" ]; then
    [ -n "$extra" ] || { extra=$tmp/extra.md; : >"$extra"; }
    { printf '\n### 10,000 children (bench/scale.py)\n\n'; cat "$tmp/scale.md"; } >>"$extra"
  fi
fi

# ---- items 3–8 and issue 3 --------------------------------------------------------
python3 "$here/bench.py" --pmd "$pmd" --driver "$driver" --pm2 "$pm2" \
  --anchors "$anchors" --idle-secs "${BENCH_IDLE_SECS:-10}" --out "$results" --extra "$extra"
