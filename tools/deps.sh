#!/usr/bin/env bash
# Installs what elife-pm needs to build and test on Debian 12, if missing.
set -euo pipefail

packages=(meson ninja-build pkg-config gcc libglib2.0-dev libglib2.0-dev-bin
          libjson-glib-dev gettext dbus-daemon dbus-bin python3 nodejs npm procps
          scdoc git xz-utils locales debhelper dpkg-dev lintian)
# scdoc renders the man pages (man/*.scd.in); git and xz-utils make and
# unpack the meson dist tarball (tests/dist); locales lets the German test
# generate de_DE.UTF-8; debhelper, dpkg-dev and lintian build and check the
# Debian package (tests/deb).
[ "${ELIFE_PM_VALGRIND:-0}" = 1 ] && packages+=(valgrind)
# setpriv and useradd/groupadd: the multi-user tests (test-dbus-users) run
# clients as test users they create (both essential on Debian already).
packages+=(util-linux passwd)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# node/npm may come from elsewhere than Debian (e.g. nodesource): accept them.
if command -v node >/dev/null && command -v npm >/dev/null; then
  filtered=()
  for p in "${missing[@]}"; do
    case "$p" in nodejs|npm) ;; *) filtered+=("$p") ;; esac
  done
  missing=("${filtered[@]+"${filtered[@]}"}")
fi
# python3 may come from elsewhere too.
if command -v python3 >/dev/null; then
  filtered=()
  for p in "${missing[@]+"${missing[@]}"}"; do
    [ "$p" = python3 ] || filtered+=("$p")
  done
  missing=("${filtered[@]+"${filtered[@]}"}")
fi

if [ "${#missing[@]}" -gt 0 ]; then
  echo "Installing: ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
