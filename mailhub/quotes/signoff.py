"""The sign-off at the end of what the author wrote ("Kind regards,\\nBob", "Mvh\\nSara", "/B",
"よろしくお願いします。\\n鈴木", "Thanks, Bob") and the name, role and phone lines under it; and a
short signature set off by a rule ("——————\\n\\n小满\\n活动协调人"). `new_text` leaves them out;
`--full` shows them.
"""
from __future__ import annotations

import re
from collections.abc import Iterable

from mailhub.quotes import words

__all__ = ["GREETING", "SEPARATOR", "drop_sign_off", "phrases", "trim_end"]


def phrases(items: Iterable[str]) -> str:
    """An alternation of `items`, longest first (so "napisał(a)" wins over "napisał"), where a
    space matches any run of spaces."""
    return "|".join(re.escape(p).replace(r"\ ", r"\s+") for p in sorted(set(items), key=len, reverse=True))


# A line that only greets: kept above answers written between quotes, and never left alone once
# a sign-off is gone.
GREETING = re.compile(
    r"(?:hi|hello|hey|dear|hallo|hoi|moin|servus|bonjour|salut|hola|ciao|buongiorno|ol[áa]|oi|"
    r"bom\s+dia|hej|hei|cze[śs][ćc]|witam|dzie[ńn]\s+dobry|guten\s+(?:morgen|tag|abend)|merhaba|"
    r"здравствуйте|привет|добрый\s+день|habari|مرحبا|good\s+(?:morning|afternoon|evening)|greetings)"
    r"\b.{0,40}|[^\s,]+(?: [^\s,]+){0,3}[,،，：:]|\S{1,12}(?:さん|様|你好[，,]?)",
    re.IGNORECASE,
)
# Rules and separators ("____", " -----", "——————").
SEPARATOR = re.compile(r"[ \t]*[-_=*~—–]{2,}[ \t]*")
_INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")

_SIGN_OFFS = frozenset(words.SIGN_OFFS)
_THANKS = frozenset(words.THANKS)
_ANY = _SIGN_OFFS | _THANKS
_PUNCTUATION = " \t,.!！。，、،:;~…-"
_COMMAS = (",", "，", "،")
_NAME = r"[^\W\d_a-z][\w.'’-]*(?: [^\W\d_a-z][\w.'’-]*){0,2}"
_INLINE_NAME = re.compile(_NAME)
_SLASH_NAME = re.compile(rf"/\s?(?:{_NAME}|[^\W\d_]{{1,20}})")  # Swedish "/B", "/Anna"
_NAME_LINES = 6  # name, role, organisation, address, phone...
_NAME_LINE = 60
_RULE = 4  # "---" is a break in the text (Markdown's too); a longer rule may set off a signature
_RULE_SIGNATURE_LINES = 4
_RULE_SIGNATURE_LINE = 40
_STRONG, _WITH_NAME = 2, 1  # a sign-off; thanks that close a mail only with a name under them


def trim_end(lines: list[str]) -> str:
    """`lines` joined, without blank lines and rules at the end."""
    while lines and (not _INVISIBLE.sub("", lines[-1]).strip() or SEPARATOR.fullmatch(lines[-1])):
        lines.pop()
    return "\n".join(lines).strip()


def drop_sign_off(text: str) -> str:
    """`text` without the sign-off at its end and the lines under it; as it is when the sign-off
    is all there is besides a greeting, or when more than a name and a role follow it (a P.S.)."""
    lines = text.split("\n")
    names = 0
    below = ""  # the line under the one looked at
    for k in range(len(lines) - 1, -1, -1):
        line = lines[k].strip()
        if not line:
            continue
        kind = _sign_off(line)
        rule = (not kind and names and k > 0 and not lines[k - 1].strip() and len(line) >= _RULE
                and SEPARATOR.fullmatch(line) and _rule_signature(lines[k + 1:]))
        # "Thank you" closes a mail only above a name: above "for organising this!" it was a sentence.
        if kind == _STRONG or (kind and names and _INLINE_NAME.fullmatch(below)) or rule:
            before = [kept for kept in lines[:k] if kept.strip()]
            if not before or (len(before) == 1 and GREETING.fullmatch(before[0].strip())):
                return text
            return trim_end(lines[:k])
        if names >= _NAME_LINES or not _name_line(line):
            return text
        names += 1
        below = line
    return text


def _sign_off(line: str) -> int:
    core = line.rstrip(_PUNCTUATION)
    if len(core) > _NAME_LINE:
        return 0
    comma = line[len(core):].lstrip()[:1] in _COMMAS
    phrase = _phrase(core)
    if phrase in _SIGN_OFFS or (core[:1] == "/" and _SLASH_NAME.fullmatch(core)):
        return _STRONG
    if phrase in _THANKS:
        return _STRONG if comma else _WITH_NAME
    for mark in _COMMAS:  # "Thanks, Bob", "Best, Bob Jones"
        head, found, name = core.partition(mark)
        if found and _phrase(head) in _ANY:
            return _STRONG if _INLINE_NAME.fullmatch(name.strip()) else 0
    words_ = phrase.split()
    for cut in range(1, min(len(words_), 5)):  # "Mvh Lars", "t. Mikko", "Kind regards Bob Jones"
        if " ".join(words_[:cut]).rstrip(_PUNCTUATION) in _ANY:
            return _STRONG if _INLINE_NAME.fullmatch(" ".join(core.split()[cut:])) else 0
    return 0


def _phrase(text: str) -> str:
    """`text` as the word lists write it: lower case (Turkish "İ" without the dot it gains), one space."""
    return " ".join(text.lower().replace("\u0307", "").split())


def _name_line(line: str) -> bool:
    """A line that may sit under a sign-off: a name, a role, an organisation, a phone number."""
    return (len(line) <= _NAME_LINE and len(line.split()) <= 8 and not line.endswith("?")
            and not line.lower().startswith(("p.s", "ps:", "ps ")))


def _rule_signature(lines: list[str]) -> bool:
    """The lines under a rule make a signature: a name first, then at most a few short lines."""
    kept = [line.strip() for line in lines if line.strip()]
    if not kept or len(kept) > _RULE_SIGNATURE_LINES or any(len(line) > _RULE_SIGNATURE_LINE for line in kept):
        return False
    first = kept[0]
    return len(first.split()) <= 4 and not any(ch.isdigit() or ch in ":：" for ch in first)
