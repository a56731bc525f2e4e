#!/usr/bin/env bash
# `meson dist` gives a tarball that configures, builds and passes its tests.
# meson dist needs a committed tree: this runs it in a temporary clone of the
# repository's HEAD (so it checks what is committed, not the work tree), then
# unpacks the tarball elsewhere, configures it with -Dwerror=true, builds it
# and runs its tests: the unit, doc and install suites and the basic, shell
# and German integration tests by default (enough to find a file the tarball lacks or a
# build that depends on the git tree); ELIFE_PM_DIST_FULL=1 runs every suite
# but packaging (this one and the Debian package: they would recurse).
set -euo pipefail

src=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail () { echo "not ok - $*" >&2; exit 1; }
skip () { echo "SKIP: $*"; exit 77; }

command -v git >/dev/null || skip "git is not installed"
git -C "$src" rev-parse --verify -q HEAD >/dev/null || skip "$src is not a git work tree"

git clone -q --no-hardlinks "$src" "$tmp/clone"
echo "# meson dist of $(git -C "$tmp/clone" log --oneline -1)"
meson setup "$tmp/clone/build" "$tmp/clone" >"$tmp/setup.log" 2>&1 || { cat "$tmp/setup.log"; fail "meson setup of the clone"; }
meson dist -C "$tmp/clone/build" --no-tests --formats xztar >"$tmp/dist.log" 2>&1 \
  || { cat "$tmp/dist.log"; fail "meson dist"; }
tarball=$(ls "$tmp"/clone/build/meson-dist/*.tar.xz)
echo "ok - meson dist: $(basename "$tarball"), $(tar -tJf "$tarball" | wc -l) entries"

# Every tracked file is in it.
top=$(tar -tJf "$tarball" | sed -n "1s|/.*||p")
missing=$(comm -23 <(git -C "$tmp/clone" ls-files | sort) <(tar -tJf "$tarball" | sed "s|^$top/||" | sort))
[ -z "$missing" ] || fail "not in the tarball: $missing"
echo "ok - the tarball holds every tracked file"

mkdir "$tmp/unpacked"
tar -xJf "$tarball" -C "$tmp/unpacked"
dir="$tmp/unpacked/$top"
[ ! -e "$dir/.git" ] || fail "the tarball contains .git"
meson setup "$dir/build" "$dir" -Dwerror=true >"$tmp/setup2.log" 2>&1 \
  || { cat "$tmp/setup2.log"; fail "meson setup of the tarball"; }
echo "ok - the tarball configures"
meson compile -C "$dir/build" >"$tmp/compile.log" 2>&1 || { tail -50 "$tmp/compile.log"; fail "meson compile of the tarball"; }
echo "ok - the tarball builds with -Dwerror=true"

# The variables meson test sets for this test belong to the outer build.
run_tests () {
  env -u G_TEST_SRCDIR -u G_TEST_BUILDDIR -u ELIFE_PMD -u ELIFE_PM_LOCALEDIR -u ELIFE_PM_CLI \
    meson test -C "$dir/build" --num-processes 1 --print-errorlogs "$@" >"$tmp/test.log" 2>&1 \
    || { cat "$tmp/test.log"; fail "meson test $* in the tarball's build"; }
  grep -E '^ *[0-9]+/[0-9]+ ' "$tmp/test.log" | sed 's/^/# /' || true
  echo "ok - meson test $* passes in the tarball's build"
}
if [ "${ELIFE_PM_DIST_FULL:-0}" = 1 ]; then
  run_tests --no-suite packaging
else
  run_tests --suite unit --suite doc --suite install
  run_tests test-dbus-basic cli-busctl-gdbus i18n-german
fi
