"""What the author of a reply actually wrote: the body without quoted history, attributions,
forwarded or original-message blocks, signatures and mobile footers.

Everything works line by line with anchored, bounded regexes, so time stays linear in the input
and no crafted body can make a pattern backtrack for long.
"""
from __future__ import annotations

import re

__all__ = ["new_text"]

# Lines longer than this are prose or pasted data, never a marker; skipping them keeps the
# per-line patterns cheap on pathological input (one 10 MB line, base64 blobs...).
_MAX_MARKER_LINE = 300

_GAP = None  # stands in for removed quoted text; rendered as a single blank line

# --- quotes and attributions ---------------------------------------------------------------

_QUOTED = re.compile(r"[ \t]*>")

# Verbs that end an attribution ("... wrote:") or sit before the author's name in languages
# that put it last ("Am ... schrieb Hans <h@x.de>:").
_WROTE = (
    r"wrote|writes|a\s+[ée]crit|[ée]crit|schrieb|geschrieben|schreef|geschreven|"
    r"escribi[óo]|escreveu|ha\s+scritto|scritto|skrev|pisze|napisa[łl](?:\(a\)|a)?|"
    r"napsal(?:\(a\)|a)?|написал(?:\(а\)|а)?|пишет|kirjoitti|írta|yazdı|写道"
)
# Searched for in the end of the candidate only: the verb is at most a name and an address
# away from the final colon.
_ATTRIBUTION_END = re.compile(
    rf"(?:^|[\s>\"'“”»,)])(?:{_WROTE})(?![\w(])(?:\s[^:：]{{0,160}})?[:：]$",
    re.IGNORECASE,
)
_ATTRIBUTION_TAIL = 200
# How clients start an attribution: "On", "Le", "Am", "Op", "El", "Em", "Il (giorno)", "Den",
# "W dniu", "Dne", "Às"; or the date itself ("02.04.2012 14:20 ...").
_ATTRIBUTION_START = re.compile(
    r"\s*(?:(?:on|le|am|op|el|em|il|den|w\s+dniu|dne|às)\b|\d)",
    re.IGNORECASE,
)
# A real attribution names a date, a time or an address; prose that happens to start with "On"
# and end in "wrote:" rarely does.
_ATTRIBUTION_EVIDENCE = re.compile(r"\d|@|<")

_GREETING = re.compile(
    r"(?:hi|hello|hey|dear|hallo|hoi|moin|servus|bonjour|salut|hola|ciao|buongiorno|ol[áa]|oi|"
    r"bom\s+dia|hej|cze[śs][ćc]|witam|dzie[ńn]\s+dobry|guten\s+(?:morgen|tag|abend)|"
    r"good\s+(?:morning|afternoon|evening)|greetings)\b.{0,40}"
    r"|[^\s,]+(?: [^\s,]+){0,3},",
    re.IGNORECASE,
)

# --- Outlook, forwards, signatures, footers -------------------------------------------------

_ORIGINAL_MESSAGE = re.compile(
    r"\s*-{2,}\s*(?:original\s+message|urspr[üu]ngliche\s+nachricht|message\s+d['’]origine|"
    r"mensaje\s+original|oorspronkelijk\s+bericht|messaggio\s+originale|mensagem\s+original|"
    r"ursprungligt\s+meddelande|originalmeddelande|oprindelig\s+meddelelse|"
    r"opprinnelig\s+melding|wiadomo[śs][ćc]\s+oryginalna|p[ůu]vodn[íi]\s+zpr[áa]va|"
    r"исходное\s+сообщение)\s*-{2,}\s*",
    re.IGNORECASE,
)
_FORWARD_MARKER = re.compile(
    r"\s*(?:-{2,}\s*(?:forwarded\s+message|weitergeleitete\s+nachricht|message\s+transf[ée]r[ée]|"
    r"mensaje\s+reenviado|doorgestuurd\s+bericht|messaggio\s+inoltrato|mensagem\s+encaminhada|"
    r"vidarebefordrat\s+meddelande|videresendt\s+meddelelse|videresendt\s+melding|"
    r"wiadomo[śs][ćc]\s+przekazana(?:\s+dalej)?|p[řr]eposlan[áa]\s+zpr[áa]va|"
    r"пересылаемое\s+сообщение)\s*-{2,}"
    r"|begin\s+forwarded\s+message|d[ée]but\s+du\s+message\s+r[ée]exp[ée]di[ée]|"
    r"anfang\s+der\s+weitergeleiteten\s+(?:nachricht|e-mail)|inicio\s+del\s+mensaje\s+reenviado|"
    r"begin\s+doorgestuurd\s+bericht|inizio\s+messaggio\s+inoltrato|"
    r"in[íi]cio\s+da\s+mensagem\s+(?:reencaminhada|encaminhada)|vidarebefordrat\s+brev|"
    r"pocz[ąa]tek\s+przekazywanej\s+wiadomo[śs]ci|pocz[ąa]tek\s+przekazanej\s+wiadomo[śs]ci)"
    r"\s*:?\s*",
    re.IGNORECASE,
)

# Header names Outlook (and webmails copying it) write above the message being answered, in
# the languages we serve. Any of them may be bold ("*From:*") once converted to text.
_FROM_KEYS = frozenset(
    {"from", "von", "de", "van", "da", "från", "fran", "od", "fra", "от", "lähettäjä", "feladó"}
)
_OTHER_KEYS = (
    r"sent|date|to|cc|bcc|subject|reply-to|gesendet|datum|an|betreff|envoy[ée]|[àa]|objet|"
    r"verzonden|aan|onderwerp|enviad[oa](?:\s+(?:el|em))?|fecha|para|asunto|assunto|data|"
    r"inviato|oggetto|skickat|till|[äa]mne|kopia|wys[łl]ano|do|temat|dw|sendt|til|emne|"
    r"отправлено|дата|кому|тема|odesl[áa]no|komu|p[řr]edm[ěe]t|kopie"
)
_HEADER_LINE = re.compile(
    rf"[ \t]*\**[ \t]*(?P<key>{'|'.join(sorted(_FROM_KEYS))}|{_OTHER_KEYS})[ \t]*\**[ \t]*[:：]",
    re.IGNORECASE,
)
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
_MAX_FOOTER_LINE = 120

# Mailman and friends append "____\nlist mailing list\n..." under each post.
_LIST_FOOTER_RULE = re.compile(r"[ \t]*_{5,}[ \t]*")
_LIST_FOOTER_MAX_LINES = 10

# Rules and separators left dangling above a cut ("____", " -----", "—").
_SEPARATOR = re.compile(r"[ \t]*[-_=*~—–]{2,}[ \t]*")


def new_text(text: str) -> str:
    """The words the author wrote in this message: the plain-text body without quoted history,
    attribution lines, forwarded/original-message blocks and signatures. Never empty when `text`
    has content: if stripping would leave nothing, return the original text (stripped of
    surrounding whitespace)."""
    kept = written_text(text)
    if kept:
        return kept
    try:
        return _as_str(text).strip()
    except Exception:  # an object whose str() fails offers no text to keep
        return ""


def written_text(text: str) -> str:
    """Like `new_text`, but empty when the mail holds nothing but quotes and a signature: what
    commands and one-word replies are read from."""
    try:
        text = _as_str(text)
    except Exception:  # an object whose str() fails offers no text to keep
        return ""
    if not text.strip():
        return ""
    try:
        return _render(_author_lines(text.replace("\r\n", "\n").replace("\r", "\n").split("\n")))
    except Exception:  # a bug here must cost us the trimming, never the member's message
        return text.strip()


def _as_str(text: object) -> str:
    if isinstance(text, str):
        return text
    if isinstance(text, (bytes, bytearray)):
        return bytes(text).decode("utf-8", "replace")
    return "" if text is None else str(text)


def _author_lines(lines: list[str]) -> list[str | None]:
    """The author's lines in order, _GAP where quoted text was; stops where history starts."""
    out: list[str | None] = []
    first_words: list[str] = []  # the author's first two non-blank lines: greeting or not
    header_keys: dict[int, str] = {}
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
        size = _attribution_size(lines, i)
        if size:
            after = _next_non_blank(lines, i + size)
            # Bottom-posting and interleaved answers put the author's words between and after
            # the quotes; top-posting leaves only history below the attribution.
            if after < n and _QUOTED.match(lines[after]) and _only_greeting(first_words):
                out.append(_GAP)
                i += size
                continue
            break
        if _history_starts(lines, i, header_keys):
            break
        out.append(line)
        if len(first_words) < 2:
            first_words.append(line.strip())
        i += 1
    return out


def _attribution_size(lines: list[str], i: int) -> int:
    """How many lines (1-3) the attribution starting at line i spans; 0 if none."""
    first = lines[i]
    if len(first) > _MAX_MARKER_LINE or not first.strip():
        return 0
    if _ATTRIBUTION_START.match(first):
        joined = ""
        # Clients wrap long attributions: "On <date>, <name>\n<address>\nwrote:".
        for size in range(1, 4):
            if i + size > len(lines):
                break
            part = lines[i + size - 1]
            if size > 1 and (not part.strip() or _QUOTED.match(part) or joined.rstrip().endswith(":")):
                break
            if len(part) > _MAX_MARKER_LINE:
                break
            joined = f"{joined} {part.strip()}" if joined else part.strip()
            if _is_attribution(joined) and _ATTRIBUTION_EVIDENCE.search(joined):
                return size
    # "Ann Smith wrote:" without a date: only trusted directly above quoted text.
    if len(first.split()) <= 8 and _is_attribution(first.strip()):
        after = _next_non_blank(lines, i + 1)
        if after < len(lines) and _QUOTED.match(lines[after]):
            return 1
    return 0


def _is_attribution(candidate: str) -> bool:
    candidate = candidate.rstrip()
    if not candidate.endswith((":", "：")):
        return False
    return _ATTRIBUTION_END.search(candidate[-_ATTRIBUTION_TAIL:]) is not None


def _only_greeting(first_words: list[str]) -> bool:
    if not first_words:
        return True
    return (len(first_words) == 1 and len(first_words[0]) <= 60
            and _GREETING.fullmatch(first_words[0]) is not None)


def _history_starts(lines: list[str], i: int, header_keys: dict[int, str], footers: bool = True) -> bool:
    """True when line i opens something the author did not write, with nothing of theirs after it."""
    line = lines[i]
    if len(line) > _MAX_MARKER_LINE:
        return False
    return bool(
        _SIG_DELIMITER.fullmatch(line)
        or _ORIGINAL_MESSAGE.fullmatch(line)
        or _FORWARD_MARKER.fullmatch(line)
        or _is_header_block(lines, i, header_keys)
        or _is_list_footer(lines, i)
        or (footers and _is_mobile_footer(lines, i, header_keys))
    )


def _is_mobile_footer(lines: list[str], i: int, header_keys: dict[int, str]) -> bool:
    stripped = lines[i].strip()
    if len(stripped) > _MAX_FOOTER_LINE or not _MOBILE_FOOTER.fullmatch(stripped):
        return False
    # A phone adds its footer under the author's last word, so only history may follow;
    # otherwise "Sent via FedEx today." was a sentence.
    j = i + 1
    while j < len(lines) and (not lines[j].strip() or _SEPARATOR.fullmatch(lines[j])):
        j += 1
    return (
        j == len(lines)
        or bool(_QUOTED.match(lines[j]))
        or _attribution_size(lines, j) > 0
        or _history_starts(lines, j, header_keys, footers=False)
    )


def _is_header_block(lines: list[str], i: int, header_keys: dict[int, str]) -> bool:
    """Outlook's "From: / Sent: / To: / Subject:" block, possibly with wrapped values."""
    first = _header_key(lines, i, header_keys)
    if not first:
        return False
    keys = {first}
    has_from = first in _FROM_KEYS
    blanks = continuation = 0
    for j in range(i + 1, min(i + _HEADER_BLOCK_SCAN, len(lines))):
        line = lines[j]
        key = _header_key(lines, j, header_keys)
        if key:
            keys.add(key)
            has_from = has_from or key in _FROM_KEYS
            blanks = continuation = 0
        elif not line.strip():
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


def _header_key(lines: list[str], j: int, cache: dict[int, str]) -> str:
    """The header name line j starts with, "" if none; cached because blocks are scanned from
    every line of a run of header-like lines."""
    if j not in cache:
        head = lines[j][:_HEADER_COLON_WITHIN]
        match = _HEADER_LINE.match(head) if ":" in head or "：" in head else None
        cache[j] = match.group("key").lower() if match else ""
    return cache[j]


def _is_list_footer(lines: list[str], i: int) -> bool:
    if not _LIST_FOOTER_RULE.fullmatch(lines[i]):
        return False
    tail = 0
    for j in range(i + 1, len(lines)):  # indexes, not a slice: this runs once per rule line
        line = lines[j]
        if line.strip() and not _QUOTED.match(line):
            tail += 1
            if tail > _LIST_FOOTER_MAX_LINES:
                return False
    return True


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
    while result and (not result[-1].strip() or _SEPARATOR.fullmatch(result[-1])):
        result.pop()
    return "\n".join(result).strip()
