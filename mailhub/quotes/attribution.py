"""Is this line (or these two or three lines, joined) the line a mail client writes above the
message being answered? "On Wed, Dec 4, 2024 at 8:42 PM Ann <ann@example.com> wrote:", and its
shapes in other languages: weekday first ("ons 4 dec. 2024 kl. 20:42 skrev Erik <…>:"), name
first ("Elif <…>, 4 Ara 2024 Çar, 20:42 tarihinde şunu yazdı:"), without a verb ("2024年12月4日(水)
20:42 佐藤花子 <…>:"), wrapped, or split by a quoted-printable soft break nobody decoded.
"""
from __future__ import annotations

import re

from mailhub.quotes import words
from mailhub.quotes.signoff import phrases

__all__ = ["ABOVE_QUOTE", "INVISIBLE", "STRONG", "clean", "dated_address", "join", "kind"]

STRONG, ABOVE_QUOTE = 2, 1  # an attribution whatever follows; one only directly above quoted text

# Marks that right-to-left text, iOS quoting and Word add around words; never part of a marker.
INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")

# The verb is at most a name, an address and a date away from the final colon; that stretch may
# hold colons only between digits ("schrieb am Mi., 4. Dez. 2024, 20:42:"), so it is looked for
# after the last other colon, as a word: after a space or an opening mark, before a space.
_VERBS = tuple(sorted({v.lower() for v in words.WROTE}, key=len, reverse=True))
_WROTE_UNSPACED = tuple(words.WROTE_UNSPACED)
_VERB_TO_END = 200
_BEFORE_VERB = frozenset(" >\"'“”»,(")
_TAIL = 300
# How clients start an attribution: "On", "Le", "W dniu", "في"…; the date itself ("02.04.2012 …",
# "2024年12月4日…"); or a weekday before a number ("ons 4 dec.", "śr., 4 gru", "ср, 4 дек.").
_START = re.compile(
    rf"[*\s]*(?:(?:{phrases(words.INTRO)})(?=[\s\d,.])|\d|[^\W\d_]{{1,11}}\.?,?\s+\d)",
    re.IGNORECASE,
)
# A time ("20:42", "20.42"), a date ("4.12.2024", "2024/12/04", "2024年12月4日") or a year.
_DATE = re.compile(r"\d(?:\d?\s?[:.]\s?\d{2}|\s?[年月日]|\d{0,3}[./-]\d{1,2}[./-]\d)|(?<!\d)(?:19|20)\d{2}(?!\d)")
_TIME = re.compile(r"(?<!\d)\d{1,2}\s?[:.]\s?\d{2}(?!\d)")
_OTHER_COLON = re.compile(r"[:：](?:(?<!\d[:：])|(?!\d))")
_ISO_DATE = re.compile(r"(?:19|20)\d{2}[/.-]\d{1,2}[/.-]\d{1,2}\b")
_MAX_LINE = 300


def clean(line: str) -> str:
    return INVISIBLE.sub("", line).replace("\u00a0", " ").strip()


def join(parts: list[str]) -> str:
    """Lines of a wrapped attribution as one; a soft break ("w=" + "rote:") joins without a space."""
    joined = ""
    for part in parts:
        part = part.strip()
        if joined.endswith("="):
            joined = joined[:-1] + part
        else:
            joined = f"{joined} {part}" if joined else part
    return joined


def kind(candidate: str) -> int:
    """STRONG for an attribution, ABOVE_QUOTE for one that only counts above quoted text, 0."""
    candidate = clean(candidate)
    if not candidate.endswith((":", "：")):
        return 0
    body = candidate[:-1].rstrip()
    verb = _verb_near_end(_after_last_colon(body[-_TAIL:]))
    dated = _DATE.search(body) is not None
    addressed = "@" in body or "<" in body
    start = _START.match(body) is not None
    if verb and ((start and (dated or addressed)) or (addressed and dated)):
        return STRONG  # "On <date> <name> wrote:", "<name> <address>, <date> tarihinde şunu yazdı:"
    if start and dated and _ends_with_address(body):
        # No verb: "2024年12月4日(水) 20:42 佐藤花子 <…>:", "ср, 4 дек. 2024 г. в 20:42, Ольга <…>:". With a
        # time and a full address it is one even above unquoted history (Gmail's HTML as text).
        full = body.endswith(">") and "@" in body[body.rfind("<"):] and _TIME.search(body)
        return STRONG if full else ABOVE_QUOTE
    if verb and (dated or len(body.split()) <= 12):
        return ABOVE_QUOTE  # "Aino Virtanen kirjoitti 4.12.2024 klo 20.42:", "Ann Smith wrote:"
    return 0


def dated_address(line: str) -> bool:
    """Gmail's old attribution, without a colon: "2013/7/20 Ann <ann@example.com>"."""
    line = line.strip()
    return (line[:1].isdigit() and line.endswith(">") and len(line) <= _MAX_LINE
            and _ISO_DATE.match(line) is not None and "@" in line[line.rfind("<"):])


def _after_last_colon(text: str) -> str:
    """`text` after its last colon that does not sit between digits (as in "20:42")."""
    found = _OTHER_COLON.search(text[::-1])  # the pattern reads the same both ways
    return text[len(text) - found.start():] if found else text


def _verb_near_end(tail: str) -> bool:
    tail = " ".join(tail.split())
    if tail.endswith(_WROTE_UNSPACED):
        return True
    low = tail.lower()
    for verb in _VERBS:
        at = low.rfind(verb)
        end = at + len(verb)
        if at < 0 or len(low) - end > _VERB_TO_END + 1:
            continue
        if (at == 0 or low[at - 1] in _BEFORE_VERB) and (end == len(low) or low[end] == " "):
            return True
    return False


def _ends_with_address(body: str) -> bool:
    if body.endswith(">"):
        return len(body) - body.rfind("<") <= 256
    last = body.rsplit(None, 1)[-1] if body.strip() else ""
    return "@" in last and len(last) <= 256
