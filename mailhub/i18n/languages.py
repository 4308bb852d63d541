"""Which language a person reads: the shipped languages, reading a code someone typed, and the
choice between a member's setting, their group's and the site default. Pure functions."""
from __future__ import annotations

import re
import unicodedata
from typing import Optional

DEFAULT = "en"
# Each has a full catalog in mailhub/i18n/locale; docs/translating.md says how to add one.
SHIPPED = ("en", "fr", "es", "pt", "ar", "sw")
NAMES = {"en": "English", "fr": "Français", "es": "Español", "pt": "Português", "ar": "العربية",
         "sw": "Kiswahili"}
RIGHT_TO_LEFT = frozenset({"ar"})
# Names people write for a language, in English and in the language itself.
_CALLED = {"english": "en", "anglais": "en", "inglés": "en", "ingles": "en", "inglês": "en", "kiingereza": "en",
           "french": "fr", "français": "fr", "francais": "fr", "francés": "fr", "frances": "fr", "francês": "fr",
           "kifaransa": "fr", "spanish": "es", "español": "es", "espanol": "es", "espagnol": "es",
           "espanhol": "es", "kihispania": "es", "portuguese": "pt", "português": "pt", "portugues": "pt",
           "portugais": "pt", "portugués": "pt", "kireno": "pt", "arabic": "ar", "arabe": "ar", "árabe": "ar",
           "العربية": "ar", "عربي": "ar", "عربية": "ar", "kiarabu": "ar", "swahili": "sw", "kiswahili": "sw",
           "suajili": "sw", "suaíli": "sw"}
_TAG = re.compile(r"^([a-z]{2,3})(?:[-_][a-z0-9]{1,8})*$")


class UnknownLanguage(ValueError):
    def __init__(self, code: str) -> None:
        self.code = code
        super().__init__(f"unknown language '{code}'; mailhub speaks {shipped_list()}")


def shipped_list() -> str:
    return ", ".join(f"{code} ({NAMES[code]})" for code in SHIPPED)


def read_language(text: str) -> str:
    """A shipped language's code from what a person typed: a code (`fr`), a tag (`pt-BR`,
    `fr_CA`) or a name (`français`, `Swahili`). Raises UnknownLanguage."""
    word = unicodedata.normalize("NFC", text.strip().strip(".,;:!\"'")).lower()
    if word in _CALLED:
        return _CALLED[word]
    found = _TAG.match(word)
    if found and found.group(1) in SHIPPED:
        return found.group(1)
    raise UnknownLanguage(text.strip())


def shipped(text: Optional[str]) -> Optional[str]:
    """Like read_language, None instead of an error."""
    try:
        return read_language(text) if text else None
    except UnknownLanguage:
        return None


def declared_language(content_language: str = "", accept_language: str = "") -> Optional[str]:
    """The first shipped language a mail declares: Content-Language (what it is written in),
    else Accept-Language (what its writer reads), highest q first. English counts: a stranger
    who declares English gets English even from a French group."""
    for tag in content_language.split(","):
        found = shipped(tag.strip())
        if found:
            return found
    ranked = []
    for n, item in enumerate(accept_language.split(",")):
        tag, _, params = item.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality > 0:
            ranked.append((-quality, n, tag.strip()))
    for _, _, tag in sorted(ranked):
        found = shipped(tag)
        if found:
            return found
    return None


def choose(member: Optional[str] = None, declared: Optional[str] = None, group: Optional[str] = None,
           site: Optional[str] = None) -> str:
    """Who gets what: the member's own setting, else (for a stranger) what their mail declared,
    else the group's, else the site's, else English. Settings that are no longer shipped are
    passed over."""
    for choice in (member, declared, group, site):
        if choice in SHIPPED:
            return choice  # type: ignore[return-value]
    return DEFAULT
