"""The words people command in. Each shipped catalog gives, under the gettext context "command",
its own words for every English command word (alternatives separated by `|`, the first is the
one help shows); a command is understood in any shipped language, whatever the member's setting,
so someone who writes `aide` to an English group still gets help."""
from __future__ import annotations

import unicodedata
from functools import lru_cache
from typing import Optional

from mailhub.i18n.catalogs import translations
from mailhub.i18n.languages import SHIPPED


def pgettext_noop(context: str, word: str) -> str:
    """Marks a word for the catalogs (babel.cfg extracts these calls); translated when read."""
    return word


# The first word of a command line. English synonyms from other list servers' habits are in
# commands.ALIASES.
COMMANDS = (
    pgettext_noop("command", "help"), pgettext_noop("command", "join"), pgettext_noop("command", "leave"),
    pgettext_noop("command", "confirm"), pgettext_noop("command", "each"), pgettext_noop("command", "digest"),
    pgettext_noop("command", "nomail"), pgettext_noop("command", "plain"), pgettext_noop("command", "profile"),
    pgettext_noop("command", "who"), pgettext_noop("command", "topics"), pgettext_noop("command", "get"),
    pgettext_noop("command", "search"), pgettext_noop("command", "mute"), pgettext_noop("command", "follow"),
    pgettext_noop("command", "timezone"), pgettext_noop("command", "language"),
    pgettext_noop("command", "unsubscribe"), pgettext_noop("command", "solved"),
    pgettext_noop("command", "block"), pgettext_noop("command", "unblock"),
    pgettext_noop("command", "events"),
)
# Words after a command: `digest daily`, `plain on`, `get attachment 41.2`, `profile country …`.
ARGUMENTS = (
    pgettext_noop("command", "daily"), pgettext_noop("command", "weekly"), pgettext_noop("command", "off"),
    pgettext_noop("command", "on"), pgettext_noop("command", "attachment"), pgettext_noop("command", "name"),
    pgettext_noop("command", "organisation"), pgettext_noop("command", "country"), pgettext_noop("command", "bio"),
    pgettext_noop("command", "event"),
)
# A moderator's or owner's one-word answer to a notice.
VERDICTS = (pgettext_noop("command", "approve"), pgettext_noop("command", "reject"),
            pgettext_noop("command", "discard"))
# A line that ends the commands: what follows is a signature or a letter.
ENDINGS = (pgettext_noop("command", "end"), pgettext_noop("command", "thanks"))

# A member's whole reply to an event's copy: their answer (mailhub/events/record.py).
RSVP = (pgettext_noop("command", "yes"), pgettext_noop("command", "no"), pgettext_noop("command", "maybe"))

KINDS = {"command": COMMANDS, "argument": ARGUMENTS, "verdict": VERDICTS, "ending": ENDINGS, "rsvp": RSVP}


def fold(word: str) -> str:
    """A word as compared: any case, accents and Arabic vowel marks left out (a phone keyboard
    may not offer them), closing punctuation dropped."""
    decomposed = unicodedata.normalize("NFKD", word.strip().casefold())
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch) and ch != "\u0640")  # tatweel
    return " ".join(bare.strip(":.,;!?؟،¡¿").split())


def alternatives(language: str, english: str) -> list[str]:
    return [w.strip() for w in translations(language).pgettext("command", english).split("|") if w.strip()]


@lru_cache(maxsize=None)
def table(kind: str) -> dict[str, str]:
    """Folded word, in any shipped language -> the English word it stands for."""
    found: dict[str, str] = {}
    for english in KINDS[kind]:
        found.setdefault(fold(english), english)
    for language in SHIPPED:
        for english in KINDS[kind]:
            for word in alternatives(language, english):
                found.setdefault(fold(word), english)
    return found


def meaning(kind: str, word: str) -> Optional[str]:
    """The English word `word` stands for among `kind` ("command", "argument", "verdict",
    "ending"), or None."""
    return table(kind).get(fold(word))


def clashes() -> list[str]:
    """Words that stand for two different things of one kind, in any two languages: each would
    be read as only one of them. The catalog test fails on any."""
    found = []
    for kind, english_words in KINDS.items():
        seen: dict[str, tuple[str, str]] = {}
        for language in ("en", *SHIPPED):
            for english in english_words:
                words = [english] if language == "en" else alternatives(language, english)
                for word in words:
                    folded = fold(word)
                    if folded in seen and seen[folded][1] != english:
                        other_language, other = seen[folded]
                        found.append(f"{kind} '{word}' ({language}: {english}) is also {other_language}: {other}")
                    seen.setdefault(folded, (language, english))
    return found
