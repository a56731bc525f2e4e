#!/usr/bin/env bash
# The Debian package, as a user gets it: built with dpkg-buildpackage in a
# temporary copy of the tree, checked by lintian (errors fail, the rest is
# printed), installed with apt, then debian/tests/activation (D-Bus
# activation of /usr/libexec/elife-pmd on a standard session bus, calls
# through busctl --user and elife-pm), then purged: no file of the package
# may be left. Root only (apt), and only where elife-pm is not installed
# already (not ours to remove); skipped (77) otherwise.
set -euo pipefail

src=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
installed=0
cleanup () {
  set +e
  if [ "$installed" = 1 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq -o DPkg::Lock::Timeout=600 elife-pm >/dev/null 2>&1
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
fail () { echo "not ok - $*" >&2; exit 1; }
skip () { echo "SKIP: $*"; exit 77; }

[ "$(id -u)" = 0 ] || skip "needs root (apt-get install/purge)"
for p in dpkg-buildpackage dh apt-get lintian dbus-daemon busctl; do
  command -v "$p" >/dev/null || skip "$p is not installed (tools/deps.sh installs it)"
done
if dpkg-query -W -f='${Status}' elife-pm 2>/dev/null | grep -q 'install ok installed'; then
  skip "the package elife-pm is installed already: not removing someone else's"
fi

# A copy of the work tree as it is (tracked and new files, not what .gitignore
# names: no build directories), or of everything but build dirs without git.
mkdir "$tmp/elife-pm"
if git -C "$src" rev-parse --git-dir >/dev/null 2>&1; then
  (cd "$src" && git ls-files -z -co --exclude-standard | xargs -0 -r sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh \
     | tar --null -cf - -T -) | tar -C "$tmp/elife-pm" -xf -
else
  tar -C "$src" --exclude='./build*' --exclude=node_modules -cf - . | tar -C "$tmp/elife-pm" -xf -
fi

echo "# dpkg-buildpackage -us -uc -b"
if ! (cd "$tmp/elife-pm" && DEB_BUILD_OPTIONS="parallel=2 ${DEB_BUILD_OPTIONS:-}" \
        dpkg-buildpackage -us -uc -b) >"$tmp/build.log" 2>&1; then
  tail -60 "$tmp/build.log"
  fail "dpkg-buildpackage -us -uc -b"
fi
deb=$(ls "$tmp"/elife-pm_*.deb)
echo "ok - dpkg-buildpackage built $(basename "$deb")"

lintian_status=0
lintian --allow-root --fail-on error --pedantic -I "$tmp"/elife-pm_*.changes >"$tmp/lintian.log" 2>&1 \
  || lintian_status=$?
sed 's/^/# lintian: /' "$tmp/lintian.log"
[ "$lintian_status" = 0 ] || fail "lintian found errors (exit $lintian_status)"
echo "ok - lintian: no errors ($(grep -c '^W:' "$tmp/lintian.log" || true) warnings)"

echo "# apt-get install -y $deb"
(cd "$tmp" && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=600 \
   "./$(basename "$deb")") >"$tmp/install.log" 2>&1 || { cat "$tmp/install.log"; fail "apt-get install"; }
installed=1
dpkg -L elife-pm > "$tmp/files"
[ -x /usr/libexec/elife-pmd ] || fail "no /usr/libexec/elife-pmd after install"
# What was a directory, what was a file, before the purge.
: > "$tmp/dirs"; : > "$tmp/nondirs"
while IFS= read -r f; do
  if [ -d "$f" ] && [ ! -L "$f" ]; then echo "$f" >> "$tmp/dirs"; else echo "$f" >> "$tmp/nondirs"; fi
done < "$tmp/files"
echo "ok - apt installed $(wc -l < "$tmp/nondirs") files"

AUTOPKGTEST_TMP="$tmp" "$tmp/elife-pm/debian/tests/activation" || fail "debian/tests/activation"

# The installed man pages and translations are found where the tools look.
if command -v man >/dev/null; then
  for page in elife-pmd.8 elife-pm.1; do
    man -w "${page##*.}" "${page%.*}" >/dev/null 2>&1 || fail "man does not find the installed ${page}"
  done
  echo "ok - man finds elife-pmd(8) and elife-pm(1)"
fi
if locale -a 2>/dev/null | grep -qiE '^de_DE\.utf-?8$'; then
  out=$(LANGUAGE=de LC_ALL=de_DE.UTF-8 /usr/libexec/elife-pmd --help)
  case "$out" in *"Den Sitzungsbus verwenden"*) ;; *) fail "the installed daemon's --help is not German: $out" ;; esac
  echo "ok - the installed daemon speaks German from the installed translation"
else
  echo "# no de_DE.UTF-8 locale: the installed translation is not checked"
fi

(DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq -o DPkg::Lock::Timeout=600 elife-pm) \
  >"$tmp/purge.log" 2>&1 || { cat "$tmp/purge.log"; fail "apt-get purge"; }
installed=0
left=()
while IFS= read -r f; do
  [ -e "$f" ] || [ -L "$f" ] && left+=("$f")
done < "$tmp/nondirs"
# A directory of the list may stay only when something else still uses it.
while IFS= read -r d; do
  [ -d "$d" ] || continue
  [ -n "$(ls -A "$d")" ] || dpkg-query -S "$d" >/dev/null 2>&1 || left+=("$d/ (empty, no package owns it)")
done < "$tmp/dirs"
for f in /etc/systemd/user/default.target.wants/elife-pmd.service /var/lib/dpkg/info/elife-pm.list \
         /var/lib/systemd/deb-systemd-user-helper-enabled/elife-pmd.service.dsh-also; do
  [ -e "$f" ] && left+=("$f")
done
[ "${#left[@]}" = 0 ] || fail "left behind by apt-get purge: ${left[*]}"
status=$(dpkg-query -W -f='${db:Status-Abbrev}' elife-pm 2>/dev/null || true)
case "$status" in ""|un*|pn*) ;; *) fail "dpkg still knows elife-pm after the purge: $status" ;; esac
echo "ok - apt-get purge left none of the $(wc -l < "$tmp/files") paths of the package"
