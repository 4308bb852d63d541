#!/bin/sh
# The translation catalogs (docs/translating.md):
#   scripts/catalogs.sh            extract the texts from code and templates into mailhub.pot,
#                                  merge new and changed ones into every language's .po, compile .mo
#   scripts/catalogs.sh compile    only compile the .po files into the .mo files mailhub reads
#   scripts/catalogs.sh init CODE  start a new language's .po
set -eu
cd "$(dirname "$0")/.."
PYBABEL="${PYBABEL:-.venv/bin/pybabel}"
[ -x "$PYBABEL" ] || PYBABEL=pybabel
LOCALE=mailhub/i18n/locale
POT=$LOCALE/mailhub.pot
extract() {
    "$PYBABEL" extract -F babel.cfg -k pgettext_noop:1c,2 -c Translators: --add-location=file --sort-output \
        --project mailhub --copyright-holder "mailhub contributors" -o "$POT" .
}
case "${1:-all}" in
    compile) "$PYBABEL" compile --statistics -d "$LOCALE" -D mailhub ;;
    init) extract; "$PYBABEL" init -i "$POT" -d "$LOCALE" -D mailhub -l "$2" ;;
    all)
        extract
        "$PYBABEL" update --no-fuzzy-matching --ignore-obsolete -i "$POT" -d "$LOCALE" -D mailhub
        "$PYBABEL" compile --statistics -d "$LOCALE" -D mailhub ;;
    *) echo "usage: $0 [compile | init CODE]" >&2; exit 2 ;;
esac
