#!/usr/bin/env bash
# po/ is complete: every source file that marks strings for translation
# (_(), N_(), C_(), NC_(), ngettext) is in po/POTFILES, every POTFILES entry
# exists, and each language in po/LINGUAS translates every string of a
# freshly extracted template, with nothing fuzzy. When it fails after new
# strings: meson compile -C build elife-pm-pot elife-pm-update-po, then
# translate what msgfmt --statistics reports.
set -euo pipefail

src=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail () { echo "not ok - $*" >&2; exit 1; }
cd "$src"

mapfile -t listed < <(sed -e 's/#.*//' -e '/^\s*$/d' po/POTFILES)
for f in "${listed[@]}"; do [ -f "$f" ] || fail "po/POTFILES names $f, which does not exist"; done
missing=()
while IFS= read -r f; do
  printf '%s\n' "${listed[@]}" | grep -qxF "$f" || missing+=("$f")
done < <(find . -name '*.c' -not -path './build*' -not -path './tests/*' -not -path './fuzz/*' \
           -not -path './bench/*' -not -path '*/node_modules/*' -not -path './debian/*' -printf '%P\n' \
         | sort | xargs -r grep -lE '(^|[^A-Za-z0-9_])(N?C?_|g_dngettext|ngettext) ?\(' || true)
[ "${#missing[@]}" = 0 ] || fail "not in po/POTFILES: ${missing[*]}"
echo "ok - po/POTFILES lists the ${#listed[@]} files with translatable strings"

# The same keywords as i18n.gettext(preset: 'glib').
xgettext --from-code=UTF-8 --add-comments=TRANSLATORS --package-name=elife-pm \
  --keyword=_ --keyword=N_ --keyword=C_:1c,2 --keyword=NC_:1c,2 \
  --keyword=g_dcgettext:2 --keyword=g_dngettext:2,3 --keyword=g_dpgettext2:2c,3 \
  --flag=N_:1:pass-c-format --flag=C_:2:pass-c-format --flag=NC_:2:pass-c-format \
  --flag=g_dngettext:2:pass-c-format --flag=g_strdup_printf:1:c-format \
  --flag=g_set_error:4:c-format --flag=g_printf:1:c-format --flag=g_printerr:1:c-format \
  -o "$tmp/elife-pm.pot" "${listed[@]}"
total=$(grep -c '^msgid ' "$tmp/elife-pm.pot")
for lang in $(sed -e 's/#.*//' po/LINGUAS); do
  [ -f "po/$lang.po" ] || fail "po/LINGUAS names $lang, but there is no po/$lang.po"
  msgmerge --quiet --no-fuzzy-matching -o "$tmp/$lang.po" "po/$lang.po" "$tmp/elife-pm.pot"
  stats=$(LC_ALL=C msgfmt -c --statistics -o /dev/null "$tmp/$lang.po" 2>&1)
  case "$stats" in
    *untranslated*|*fuzzy*) fail "po/$lang.po is not complete: $stats" ;;
  esac
  echo "ok - po/$lang.po translates all $((total - 1)) strings ($stats)"
done
