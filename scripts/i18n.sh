#!/usr/bin/env bash
# Refresh Kehu's translation catalogues.
#
#   scripts/i18n.sh
#
# 1. extracts every marked string (babel.cfg) into saas/translations/messages.pot,
# 2. merges it into each locale's messages.po (creating the .po the first time),
# 3. compiles the .mo files Flask-Babel loads (they are git-ignored).
#
# Locations are left out and output is sorted, so a diff shows only strings that
# really changed. New strings arrive with an empty msgstr: translate them in
# saas/translations/zh_Hans_CN/LC_MESSAGES/messages.po, then run this again. (Flask-Babel
# looks the user-facing locale "zh_CN" up as str(Locale.parse("zh_CN")) == "zh_Hans_CN".)
# tests/test_i18n.py fails while any zh_CN string is untranslated.
#
# Environment: PYBABEL (default .venv/bin/pybabel), LOCALES (default "zh_Hans_CN en").
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

PYBABEL="${PYBABEL:-.venv/bin/pybabel}"
LOCALES="${LOCALES:-zh_Hans_CN en}"
DIR=saas/translations
POT="$DIR/messages.pot"
trap 'rm -f "$POT.new"' EXIT
VERSION="$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml | head -n 1)"

"$PYBABEL" extract \
    -F babel.cfg \
    -k _l -k lazy_gettext -k lazy_ngettext:1,2 \
    --add-comments=TRANSLATORS: \
    --no-location \
    --ignore-dirs=".* _* node_modules" \
    --sort-output \
    --no-wrap \
    --project=Kehu \
    --version="${VERSION:-0}" \
    --copyright-holder="Kehu" \
    -o "$POT.new" \
    .

# Keep the old template when only its creation date would change, so re-running is a no-op.
if [[ -f "$POT" ]] && diff -q -I '^"POT-Creation-Date:' "$POT" "$POT.new" >/dev/null; then
    rm "$POT.new"
else
    mv "$POT.new" "$POT"
fi

for locale in $LOCALES; do
    po="$DIR/$locale/LC_MESSAGES/messages.po"
    if [[ ! -f "$po" ]]; then
        "$PYBABEL" init -i "$POT" -d "$DIR" -l "$locale" --no-wrap
    fi
    "$PYBABEL" update \
        -i "$POT" \
        -d "$DIR" \
        -l "$locale" \
        --no-fuzzy-matching \
        --ignore-obsolete \
        --ignore-pot-creation-date \
        --no-wrap
done

"$PYBABEL" compile -d "$DIR" --statistics
