"""What the author of a reply actually wrote: the body without quoted history, attributions,
forwarded or original-message blocks, signatures, sign-offs and mobile footers.

Everything works line by line with anchored, bounded regexes, so time stays linear in the input
and no crafted body can make a pattern backtrack for long. The words of each language are data in
`words.py`.
"""
from __future__ import annotations

import re

from mailhub.quotes import attribution, words
from mailhub.quotes.signoff import GREETING, SEPARATOR, drop_sign_off, trim_end
from mailhub.quotes.signoff import phrases as _phrases

__all__ = ["new_text", "written_text"]

# Lines longer than this are prose or pasted data, never a marker; skipping them keeps the
# per-line patterns cheap on pathological input (one 10 MB line, base64 blobs...).
_MAX_MARKER_LINE = 300

_GAP = None  # stands in for removed quoted text; rendered as a single blank line
_HISTORY, _FORWARD, _SIGNATURE = "history", "forward", "signature"  # why the author's part ended

# Marks that right-to-left text, iOS quoting and Word put around words; never part of a marker.
_INVISIBLE = attribution.INVISIBLE
_INVISIBLE_TEXT = "\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\ufeff"
_INVISIBLE_CHARS = frozenset(_INVISIBLE_TEXT)
_COLON_OR_SPACE = _INVISIBLE_CHARS | frozenset(":： \t\u00a0\u3000")
_clean = attribution.clean

_QUOTED = re.compile("[ \t\u200e\u200f\ufeff]*>")

# --- Outlook, forwards, signatures, footers -------------------------------------------------

_DASH_OR_INVISIBLE = _INVISIBLE_CHARS | frozenset("-–—*")
_DASHED_TITLE = re.compile(r"[*\s]*[-–—]{2,}\s*(?P<title>[^\s\-–—].{0,60}?)\s*[-–—]{2,}[*\s]*")
_ORIGINAL_TITLE = re.compile(_phrases(words.ORIGINAL_MESSAGE), re.IGNORECASE)
_FORWARD_TITLE = re.compile(_phrases(words.FORWARDED), re.IGNORECASE)
_FORWARD_INTRO = re.compile(rf"(?:{_phrases(words.FORWARD_INTRO)})\s*[:：]?", re.IGNORECASE)

# Header names Outlook (and webmails and phones copying it) write above the message being
# answered. Any of them may be bold ("*From:*") once converted to text.
_FROM_KEYS = frozenset(words.FROM)
_HEADER_KEYS = _FROM_KEYS | frozenset(words.HEADER)
_HEADER_COLON_WITHIN = 40  # "*Gesendet:*" and friends: the colon comes early or not at all
_HEADER_BLOCK_MIN = 3  # From + Sent/To/Subject...: fewer is too easily ordinary text
_HEADER_BLOCK_SCAN = 10

# RFC 3676 says "-- "; many clients and people drop the space.
_SIG_DELIMITER = re.compile(r"--[ \t]*")

# A footer is a short phrase on its own line; a comma or a long sentence means a person wrote
# it ("Sent from my desk, is much easier than my phone."). Tokens are single-space separated so
# the repetition cannot backtrack.
_FOOTER_TAIL = r"[^\s,;]+(?: [^\s,;]+){0,5}"
_MOBILE_FOOTER = re.compile(
    rf"(?:sent\s+(?:from|with|via|using)\s+{_FOOTER_TAIL}"
    rf"|get\s+outlook\s+for\s+{_FOOTER_TAIL}"
    rf"|enviado\s+(?:desde|de|do|da|con|com|pelo|via)\s+{_FOOTER_TAIL}"
    rf"|envoy[ée]\s+(?:de|depuis|à\s+partir\s+de|avec|via)\s+{_FOOTER_TAIL}"
    rf"|von\s+meinem\s+[^\s,;]+(?: [^\s,;]+){{0,4}}\s+gesendet\.?"
    rf"|gesendet\s+(?:von|vom|mit|via)\s+{_FOOTER_TAIL}"
    rf"|(?:verzonden|verstuurd)\s+(?:vanaf|van|met|via)\s+{_FOOTER_TAIL}"
    rf"|inviato\s+(?:da|dal|dalla|dal\s+mio|con)\s+{_FOOTER_TAIL}"
    rf"|skickat\s+fr[åa]n\s+{_FOOTER_TAIL}"
    rf"|sendt\s+fra\s+{_FOOTER_TAIL}"
    rf"|wys[łl]an[eo]\s+z\s+{_FOOTER_TAIL}"
    rf"|odesl[áa]no\s+z\s+{_FOOTER_TAIL}"
    rf"|отправлено\s+(?:с|из|со)\s+{_FOOTER_TAIL})",
    re.IGNORECASE,
)
# Any language: a short line starting or ending with a footer verb and naming a device or an app
# ("Lähetetty iPhonesta", "iPhoneから送信", "Outlook für iOS<https://aka.ms/…> herunterladen").
_SPACED_VERBS = tuple(v for v in words.FOOTER_VERBS if not any(ord(c) >= 0x3000 for c in v))
_UNSPACED_VERBS = tuple(v for v in words.FOOTER_VERBS if any(ord(c) >= 0x3000 for c in v))
_UNSPACED_FOOTER = re.compile(_phrases(_UNSPACED_VERBS))
_FOOTER_EDGE_WORDS = frozenset(w for v in _SPACED_VERBS for w in (v.split()[0], v.split()[-1]))
_FOOTER_START = re.compile(rf"(?:{_phrases(_SPACED_VERBS)})(?!\w)|(?:{_phrases(_UNSPACED_VERBS)})", re.IGNORECASE)
_DEVICE = re.compile(_phrases(words.DEVICES), re.IGNORECASE)
_LINK_AT_END = re.compile(r"\s*(?:<https?://[^<>\s]{1,200}>|\(https?://[^()\s]{1,200}\))\s*")
_MAX_FOOTER_LINE = 120
_MAX_FOOTER_WORDS = 10

# Mailman and friends append "____\nlist mailing list\n..." under each post.
_LIST_FOOTER_RULE = re.compile(r"[ \t]*_{5,}[ \t]*")
_LIST_FOOTER_MAX_LINES = 10


def _readable(text: object) -> str:
    """`text` as a str, or "" when it holds nothing but spaces (or is no text at all)."""
    try:
        text = _as_str(text)  # type: ignore[arg-type]
    except Exception:  # noqa: BLE001 - an object whose str() fails offers no text to keep
        return ""
    return text if text.strip() else ""


def new_text(text: str) -> str:
    """The words the author wrote in this message: the plain-text body without quoted history,
    attribution lines, forwarded/original-message blocks, signatures, phone footers and the
    sign-off. When that leaves nothing, the best of what is not history: the sign-off, signature
    or footer the author's part holds ("Thanks,\\nBob"), a forward as it came; and "" when the
    mail holds nothing but quoted history (never the history itself)."""
    text = _readable(text)
    if not text:
        return ""
    try:
        lines = _Text(text)
        kept, reason = _author_lines(lines)
        written = drop_sign_off(_render(kept))
        if written:
            return written
        if reason == _SIGNATURE:  # read on through the signature or footer, to the history
            kept, reason = _author_lines(lines, signatures=False)
            fuller = _render(kept)
            if fuller and reason != _FORWARD:
                return fuller
        return text.strip() if reason == _FORWARD else ""  # a forward without a word: as it came
    except Exception:  # a bug here must cost us the trimming, never the member's message
        return text.strip()


def written_text(text: str) -> str:
    """Like `new_text`, but empty when the mail holds nothing but quotes, a signature or a phone
    footer: what commands and one-word replies are read from."""
    text = _readable(text)
    if not text:
        return ""
    try:
        return drop_sign_off(_render(_author_lines(_Text(text))[0]))
    except Exception:  # a bug here must cost us the trimming, never the member's message
        return text.strip()


def _as_str(text: object) -> str:
    if isinstance(text, str):
        return text
    if isinstance(text, (bytes, bytearray)):
        return bytes(text).decode("utf-8", "replace")
    return "" if text is None else str(text)


def _ends_with_colon(line: str) -> bool:
    if not line or line[-1] not in _COLON_OR_SPACE:  # nearly every line: one look at its last character
        return False
    end = line.rstrip()
    while end and end[-1] in _INVISIBLE_CHARS:
        end = end[:-1].rstrip()
    return end.endswith((":", "："))


class _Text:
    """The lines of a body, with what several checks ask of each line computed once."""

    __slots__ = ("colons", "keys", "lines")

    def __init__(self, text: str) -> None:
        self.lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        # Attributions and forward intros end in a colon: most lines are ruled out by one look.
        self.colons = [_ends_with_colon(line) for line in self.lines] + [False, False, False]
        self.keys: dict[int, str] = {}  # line -> the header name it starts with ("" if none)


def _author_lines(text: _Text, signatures: bool = True) -> tuple[list[str | None], str | None]:
    """The author's lines in order, _GAP where quoted text was, and why they ended: history,
    a forward, a signature or footer (only cut when `signatures`), or None at the end."""
    out: list[str | None] = []
    first_words: list[str] = []  # the author's first two non-blank lines: greeting or not
    lines = text.lines
    i, n = 0, len(lines)
    while i < n:
        line = lines[i]
        if not line.strip():
            out.append(line)
            i += 1
            continue
        if _QUOTED.match(line):
            out.append(_GAP)
            i += 1
            continue
        size = _attribution_size(text, i)
        if size:
            after = _next_non_blank(lines, i + size)
            # Bottom-posting and interleaved answers put the author's words between and after
            # the quotes; top-posting leaves only history below the attribution.
            if after < n and _QUOTED.match(lines[after]) and (
                    _only_greeting(first_words) or _answer_follows_quote(text, after)):
                out.append(_GAP)
                i += size
                continue
            return out, _HISTORY
        reason = _history_starts(text, i, footers=signatures)
        if reason:
            return out, reason
        if not signatures and _SIG_DELIMITER.fullmatch(line):
            i += 1  # the signature is what is kept, not its "-- "
            continue
        out.append(line)
        if len(first_words) < 2:
            first_words.append(line.strip())
        i += 1
    return out, None


def _attribution_size(text: _Text, i: int) -> int:
    """How many lines (1-3) the attribution starting at line i spans; 0 if none. Clients wrap long
    attributions ("On <date>, <name>\\n<address>\\nwrote:"), and a quoted-printable soft break
    left in the text splits a word ("w=\\nrote:")."""
    return _colon_attribution_size(text, i) or _dated_address_size(text, i)


def _colon_attribution_size(text: _Text, i: int) -> int:
    colons = text.colons
    if not (colons[i] or colons[i + 1] or colons[i + 2]):
        return 0
    lines = text.lines
    for j in range(i, min(i + 3, len(lines))):
        part = lines[j]
        if len(part) > _MAX_MARKER_LINE or (j > i and (not part.strip() or _QUOTED.match(part))):
            return 0
        if colons[j]:
            break
    else:
        return 0
    kind = attribution.kind(attribution.join(lines[i:j + 1]))
    if not kind or (kind == attribution.ABOVE_QUOTE and not _quote_follows(lines, j + 1)):
        return 0
    if j > i and attribution.kind(attribution.join(lines[i + 1:j + 1])) >= kind:
        return 0  # the attribution starts on the next line; line i is the author's
    return j - i + 1


def _dated_address_size(text: _Text, i: int) -> int:
    """1 for Gmail's old attribution without a colon directly above quoted text; else 0."""
    line = text.lines[i]
    return int(line[:1].isdigit() and attribution.dated_address(line) and _quote_follows(text.lines, i + 1))


def _answer_follows_quote(text: _Text, start: int) -> bool:
    """Below the quote that starts at line `start`, after a blank line, the author writes on
    (an answer under a quote); not history, a signature or a footer."""
    lines = text.lines
    j = start
    while j < len(lines) and _QUOTED.match(lines[j]):
        j += 1
    if j >= len(lines) or lines[j].strip():
        return False  # the quote ends the mail, or a quoted line lost its ">" in rewrapping
    j = _next_non_blank(lines, j)
    return j < len(lines) and not _attribution_size(text, j) and _history_starts(text, j) is None


def _quote_follows(lines: list[str], start: int) -> bool:
    after = _next_non_blank(lines, start)
    return after < len(lines) and bool(_QUOTED.match(lines[after]))


def _only_greeting(first_words: list[str]) -> bool:
    if not first_words:
        return True
    return (len(first_words) == 1 and len(first_words[0]) <= 60
            and GREETING.fullmatch(first_words[0]) is not None)


def _history_starts(text: _Text, i: int, footers: bool = True) -> str | None:
    """Why line i opens something the author did not write, with nothing of theirs after it:
    _HISTORY, _FORWARD or _SIGNATURE (signatures and footers only when `footers`); else None."""
    line = text.lines[i]
    if len(line) > _MAX_MARKER_LINE:
        return None
    if line.lstrip()[:1] in _DASH_OR_INVISIBLE:
        title = _DASHED_TITLE.fullmatch(_clean(line))
        if title:
            title = title.group("title")
            if _ORIGINAL_TITLE.fullmatch(title):
                return _HISTORY
            if _FORWARD_TITLE.fullmatch(title):
                return _FORWARD
            if _header_block_follows(text, i + 1):  # a title in a language we lack
                return _HISTORY
    if text.colons[i] and _FORWARD_INTRO.fullmatch(_clean(line)):
        return _FORWARD
    if _is_header_block(text, i) or _is_list_footer(text, i):
        return _HISTORY
    if footers and (_SIG_DELIMITER.fullmatch(line) or _is_mobile_footer(text, i)):
        return _SIGNATURE
    return None


def _is_mobile_footer(text: _Text, i: int) -> bool:
    """Line i is a phone's or an app's footer ("Sent from my iPhone", "Hent Outlook til iOS") under
    the author's last word."""
    line = text.lines[i]
    if len(line) > _MAX_FOOTER_LINE or "," in line or "،" in line or line.count(" ") > 2 * _MAX_FOOTER_WORDS:
        return False  # footers are short phrases without a comma
    head = line.split(None, 1)
    if not head:
        return False
    first = head[0].strip(_INVISIBLE_TEXT).lower()
    last = line.rsplit(None, 1)[-1].split("<")[0].split("(")[0].strip(_INVISIBLE_TEXT).rstrip(".!").lower()
    if not (first in _FOOTER_EDGE_WORDS or last in _FOOTER_EDGE_WORDS
            or (not line.isascii() and _UNSPACED_FOOTER.search(line))):
        return False  # most lines: two set lookups
    if len(line.split()) > _MAX_FOOTER_WORDS:
        return False
    stripped = _clean(line)
    if not (_MOBILE_FOOTER.fullmatch(stripped) or _any_language_footer(_clean(_LINK_AT_END.sub(" ", line)))):
        return False
    # A phone adds its footer under the author's last word, so only history may follow;
    # otherwise "Sent via FedEx today." was a sentence.
    lines = text.lines
    j = i + 1
    while j < len(lines) and (not lines[j].strip() or SEPARATOR.fullmatch(lines[j])):
        j += 1
    return (
        j == len(lines)
        or bool(_QUOTED.match(lines[j]))
        or _attribution_size(text, j) > 0
        or _history_starts(text, j, footers=False) is not None
    )


def _any_language_footer(line: str) -> bool:
    """`line` (links removed) starts or ends with a footer verb and names a device or an app."""
    line = line.rstrip(".!").lower()
    if not (_FOOTER_START.match(line) or line.endswith(_UNSPACED_VERBS) or (
            line.endswith(_SPACED_VERBS) and _FOOTER_START.match(line.rsplit(None, 1)[-1]))):
        return False
    return _DEVICE.search(line) is not None


def _header_block_follows(text: _Text, start: int) -> bool:
    after = _next_non_blank(text.lines, start)
    return after < min(len(text.lines), start + 2) and _is_header_block(text, after)


def _is_header_block(text: _Text, i: int) -> bool:
    """Outlook's "From: / Sent: / To: / Subject:" block, possibly with wrapped values."""
    first = _header_key(text, i)
    if not first:
        return False
    keys = {first}
    has_from = first in _FROM_KEYS
    blanks = continuation = 0
    for j in range(i + 1, min(i + _HEADER_BLOCK_SCAN, len(text.lines))):
        key = _header_key(text, j)
        if key:
            keys.add(key)
            has_from = has_from or key in _FROM_KEYS
            blanks = continuation = 0
        elif not text.lines[j].strip():
            blanks += 1
            if blanks > 1:
                break
        else:
            # A long To: list wraps once; a second plain line is the body.
            continuation += 1
            if continuation > 1 or blanks:
                break
        if has_from and len(keys) >= _HEADER_BLOCK_MIN:
            return True
    return False


def _header_key(text: _Text, j: int) -> str:
    """The header name line j starts with, "" if none; cached because blocks are scanned from
    every line of a run of header-like lines."""
    if j not in text.keys:
        head = text.lines[j][:_HEADER_COLON_WITHIN]
        colon = head.find(":")
        if colon < 0 or 0 <= head.find("：") < colon:
            colon = head.find("：")
        name = ""
        if colon > 0:
            name = " ".join(_INVISIBLE.sub("", head[:colon]).replace("*", " ").lower().split())
        text.keys[j] = name if name in _HEADER_KEYS else ""
    return text.keys[j]


def _is_list_footer(text: _Text, i: int) -> bool:
    """A rule with a few lines naming a list or its address below it, and nothing else: a rule
    of the author's own, or one above quoted headers, is not a list footer."""
    lines = text.lines
    if not _LIST_FOOTER_RULE.fullmatch(lines[i]):
        return False
    tail = 0
    names_a_list = False
    for j in range(i + 1, len(lines)):  # indexes, not a slice: this runs once per rule line
        line = lines[j]
        if line.strip() and not _QUOTED.match(line):
            tail += 1
            if tail > _LIST_FOOTER_MAX_LINES or _header_key(text, j):
                return False
            names_a_list = names_a_list or "@" in line or "://" in line or "list" in line.lower()
    return names_a_list


def _next_non_blank(lines: list[str], start: int) -> int:
    while start < len(lines) and not lines[start].strip():
        start += 1
    return start


def _render(out: list[str | None]) -> str:
    """Join kept lines; each removed quote becomes one blank line between the author's paragraphs."""
    result: list[str] = []
    gap = False
    for line in out:
        if line is _GAP:
            gap = True
            while result and not result[-1]:
                result.pop()
            continue
        line = line.rstrip()
        if gap:
            if not line:
                continue
            if result:
                result.append("")
            gap = False
        result.append(line)
    return trim_end(result)
