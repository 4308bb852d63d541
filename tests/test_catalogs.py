"""The translation catalogs: every shipped language translates every text, keeps every
placeholder, compiles to the .mo files mailhub reads, and its command words are unambiguous."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from mailhub.i18n import words
from mailhub.i18n.catalogs import LOCALE, translations
from mailhub.i18n.languages import DEFAULT, SHIPPED

ROOT = Path(__file__).resolve().parent.parent
TRANSLATED = [code for code in SHIPPED if code != DEFAULT]
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")


def catalog(code: str):  # noqa: ANN201 - babel's Catalog
    with open(LOCALE / code / "LC_MESSAGES" / "mailhub.po", "rb") as f:
        return read_po(f, locale=code)


def source_ids() -> set[tuple[object, object]]:
    with open(LOCALE / "mailhub.pot", "rb") as f:
        return {(m.id, m.context) for m in read_po(f) if m.id}


def forms(message) -> list[str]:  # noqa: ANN001
    return list(message.string) if isinstance(message.string, (list, tuple)) else [message.string]


def test_the_template_holds_every_text_in_the_code_and_templates(tmp_path: Path) -> None:
    """A text added to a template or to the code without running scripts/catalogs.sh would reach
    every reader in English."""
    out = tmp_path / "now.pot"
    subprocess.run([sys.executable, "-m", "babel.messages.frontend", "extract", "-F", "babel.cfg",
                    "-k", "pgettext_noop:1c,2", "-o", str(out), "."], cwd=ROOT, check=True, capture_output=True)
    with open(out, "rb") as f:
        now = {(m.id, m.context) for m in read_po(f) if m.id}
    assert now - source_ids() == set(), "texts missing from mailhub.pot: run scripts/catalogs.sh"
    assert source_ids() - now == set(), "mailhub.pot has texts no longer used: run scripts/catalogs.sh"


@pytest.mark.parametrize("code", TRANSLATED)
def test_every_text_is_translated(code: str) -> None:
    po = catalog(code)
    assert {(m.id, m.context) for m in po if m.id} >= source_ids(), f"{code}: run scripts/catalogs.sh"
    missing = [m.id for m in po if m.id and (not all(f.strip() for f in forms(m)) or m.fuzzy)]
    assert missing == [], f"{code}: {len(missing)} texts untranslated or fuzzy, the first: {missing[:3]}"
    assert len(forms(next(m for m in po if m.pluralizable))) == po.num_plurals


@pytest.mark.parametrize("code", TRANSLATED)
def test_translations_keep_their_placeholders(code: str) -> None:
    """A placeholder renamed, dropped or broken in a translation breaks the mail (or, with a stray
    %, the whole template) for every reader of that language."""
    broken = []
    for m in catalog(code):
        if not m.id:
            continue
        ids = [m.id] if isinstance(m.id, str) else list(m.id)
        wanted = {p for i in ids for p in PLACEHOLDER.findall(i)}
        for n, text in enumerate(forms(m)):
            got = set(PLACEHOLDER.findall(text))
            # A plural form may say "one" in words instead of %(count)s; nothing else may go.
            if got - wanted or (wanted - got - ({"count", "num"} if m.pluralizable else set())):
                broken.append((ids[0], n, text))
                continue
            if "%" in ids[0] or got:  # jinja formats these with %: a lone % would raise
                try:
                    text % {p: 1 for p in wanted}
                except (ValueError, TypeError, KeyError) as exc:
                    broken.append((ids[0], n, f"{text!r}: {exc}"))
            if ("{{" in text or "{%" in text) != ("{{" in ids[0] or "{%" in ids[0]):
                broken.append((ids[0], n, "template syntax added or lost"))
    assert broken == []


@pytest.mark.parametrize("code", TRANSLATED)
def test_the_compiled_catalog_is_the_current_one(code: str) -> None:
    """mailhub reads the .mo files: one older than its .po ships yesterday's words."""
    compiled = translations(code)
    stale = []
    for m in catalog(code):
        if not m.id or m.fuzzy or not all(forms(m)):
            continue  # untranslated: test_every_text_is_translated says so
        if m.pluralizable:
            one, many = m.id
            got = [compiled.npgettext(m.context, one, many, n) if m.context else compiled.ngettext(one, many, n)
                   for n in (1, 2)]
            if got[0] not in forms(m) or got[1] not in forms(m):
                stale.append(one)
        else:
            got = compiled.pgettext(m.context, m.id) if m.context else compiled.gettext(m.id)
            if got != m.string:
                stale.append(m.id)
    assert stale == [], f"{code}: .mo differs from .po for {stale[:3]}: run scripts/catalogs.sh compile"


def test_no_command_word_means_two_things() -> None:
    assert words.clashes() == []


@pytest.mark.parametrize("code", TRANSLATED)
def test_command_words_are_words_a_person_can_type(code: str) -> None:
    """Arguments are single words (`digest daily`: the second word is looked up alone); a command
    may be up to three words; none may be empty or be English left untranslated by mistake for
    every command at once."""
    for english in words.ARGUMENTS:
        for word in words.alternatives(code, english):
            assert len(word.split()) == 1, f"{code}: argument '{word}' for '{english}' must be one word"
    for english in words.COMMANDS + words.VERDICTS:
        for word in words.alternatives(code, english):
            assert 1 <= len(word.split()) <= 3, f"{code}: command '{word}' for '{english}'"
    own = [w for e in words.COMMANDS for w in words.alternatives(code, e) if words.fold(w) != words.fold(e)]
    assert len(own) >= len(words.COMMANDS) // 2, f"{code}: most command words are still the English ones"
