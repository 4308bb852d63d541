"""Readable text and attachment list of a stored message. Never raises on bad mail: it degrades.

The MIME tree is walked by hand instead of letting `email` parse the whole message: the stdlib
feed parser recurses once per nesting level (RecursionError near 2,000 levels, and 140 ms at 500)
and parses every part of a 100,000-part message (2 s) before we could stop it. Splitting each
multipart ourselves lets the depth and part caps bound the work itself, not just what we keep;
`email` still parses each part's headers and does the RFC 2231 / 2047 parameter decoding.
"""
from __future__ import annotations

import binascii
import codecs
import email.header
import logging
import re
from dataclasses import dataclass, field
from email.message import Message
from email.parser import HeaderParser

# compat32, not default: it keeps header values as plain strings and parses parameters leniently.
# The default policy runs every header through a strict RFC 5322 parser on access, which has a
# history of exceptions on malformed headers (IndexError in _header_value_parser and the like) and
# was about 6x slower over the parse corpus (2.0 vs 0.3 ms a message to parse and read the params).
from email.policy import compat32

__all__ = ["Attachment", "Body", "decode_words", "extract_body", "read_body", "read_headers"]

log = logging.getLogger(__name__)

MAX_DEPTH = 20
MAX_PARTS = 500
_FORWARDED = "forwarded message"

# Parts whose text is data for a program, not prose for a reader.
_DATA_TEXT = frozenset({
    "text/calendar", "text/x-vcalendar", "text/vcard", "text/x-vcard", "text/directory",
    "text/csv", "text/rfc822-headers",
})
_MESSAGE_TYPES = frozenset({"message/rfc822", "message/global"})

# Names mail in the wild declares that Python does not know, or knows as a narrower charset than
# the senders actually used (WHATWG maps the same ones for the same reason).
_CHARSET_ALIASES = {
    "utf8mb4": "utf-8", "utf8mb3": "utf-8", "utf-8mb4": "utf-8", "unicode-1-1-utf-8": "utf-8",
    "iso-8859-1": "cp1252", "latin1": "cp1252", "latin-1": "cp1252", "iso8859-1": "cp1252",
    "us-ascii": "ascii", "ascii": "ascii", "ansi_x3.4-1968": "ascii",
    "gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030",
    "ks_c_5601-1987": "cp949", "euc-kr": "cp949",
    "shift_jis": "cp932", "shift-jis": "cp932", "x-sjis": "cp932", "sjis": "cp932",
    "iso-8859-8-i": "iso-8859-8", "iso-8859-6-i": "iso-8859-6", "x-mac-roman": "mac-roman",
    "cp-1252": "cp1252", "windows-874": "cp874", "tis-620": "cp874",
}
# Declared when the sender did not know the charset: guess as if none was declared.
_NO_CHARSET = frozenset({"", "x-unknown", "unknown", "unknown-8bit", "x-user-defined", "default",
                         "charset", "none", "8bit", "binary"})
# Single-byte charsets decode almost any bytes, so a UTF-8 body mislabelled as one of them would
# silently become mojibake; valid UTF-8 with non-ASCII bytes is almost never meant as these.
_SINGLE_BYTE = ("iso8859-", "cp125", "cp874", "koi8-", "mac-", "cp437", "cp850", "cp866", "tis-620")

_B64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="
_B64_JUNK = bytes(b for b in range(256) if b not in _B64_ALPHABET)
_HEADER_END = re.compile(rb"\r?\n\r?\n|\r\r")
_LEADING_NEWLINE = re.compile(rb"\A(?:\r\n|\n|\r)")
_QUOTE_MARKS = re.compile(r">+")
_VALID_NON_ASCII = re.compile("[^\x00-\x7f\ufffd]")
_META_CHARSET = re.compile(rb"""<meta\b[^>]*?charset\s*=\s*["']?([A-Za-z0-9_.:-]+)""", re.I)


@dataclass(frozen=True)
class Attachment:
    filename: str  # "" when none given; RFC 2231 / RFC 2047 names decoded
    content_type: str  # e.g. "application/pdf"
    size: int  # decoded size in bytes
    # Its number in a depth-first walk of the MIME tree (0: the whole message), which does not
    # go inside attached messages: `attachments.part_at` finds it again by this number. Two parts
    # with the same file (one per alternative) compare equal.
    part: int = field(default=-1, compare=False)


@dataclass(frozen=True)
class Body:
    text: str
    attachments: tuple[Attachment, ...]
    # What made the walk stop before the end of the MIME tree ("more than 500 MIME parts"); ""
    # when all of it was read. The text and attachments then miss what lies beyond the limit.
    over_limit: str = ""


def read_body(raw: bytes) -> Body:
    """Readable plain text of a stored message, the attachments it carries, and whether the MIME
    tree was larger than the walk reads. Never raises."""
    try:
        raw = raw if isinstance(raw, bytes) else _as_bytes(raw)
        walk = _Walk()
        found = walk.part(raw, "text/plain", 0)
        text = "\n\n".join(p for p in (_render(piece) for piece in found.pieces) if p)
        return Body(_tidy(text), tuple(found.attachments), walk.over_limit)
    except Exception as exc:  # noqa: BLE001 - bad MIME must not stop processing
        log.warning("body extraction failed, keeping raw text: %s", exc)
        return Body(_raw_fallback(raw), ())


def extract_body(raw: bytes) -> tuple[str, tuple[Attachment, ...]]:
    """Readable plain text of a stored message and the attachments it carries. Never raises."""
    body = read_body(raw)
    return body.text, body.attachments


def read_headers(raw: bytes) -> Message:
    """The header block of a message, 8-bit values decoded as UTF-8 (RFC 6532) or, failing that,
    Windows-1252. Reads no further than the blank line, so the size of the body costs nothing."""
    return _split_headers(raw)[0]


# --- the MIME walk ------------------------------------------------------------------------------

@dataclass
class _Found:
    # ("plain" | "html", text): HTML is converted only once we know it is the one shown.
    pieces: list[tuple[str, str]] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)

    def add(self, other: _Found) -> None:
        self.pieces.extend(other.pieces)
        self.attachments.extend(other.attachments)

    def has_plain(self) -> bool:
        return any(kind == "plain" and text.strip() for kind, text in self.pieces)

    def has_text(self) -> bool:
        return any(text.strip() for _, text in self.pieces)


class _Walk:
    def __init__(self) -> None:
        self.parts_left = MAX_PARTS
        self.over_limit = ""

    def part(self, chunk: bytes, default_type: str, depth: int) -> _Found:
        if depth > MAX_DEPTH:
            self.over_limit = self.over_limit or f"MIME parts nested more than {MAX_DEPTH} levels deep"
            return _Found()
        if self.parts_left <= 0:
            self.over_limit = self.over_limit or f"more than {MAX_PARTS} MIME parts"
            return _Found()
        number = MAX_PARTS - self.parts_left
        self.parts_left -= 1
        headers, body = _split_headers(chunk)
        headers.set_default_type(default_type)
        ctype = headers.get_content_type()
        if ctype.startswith("multipart/"):
            children = _split_multipart(body, _boundary(headers))
            if children is not None:
                return self._multipart(ctype, headers, children, depth)
            ctype = "text/plain"  # no usable boundary: the body is all we have, show it
        return _leaf(headers, ctype, body, number)

    def _multipart(self, ctype: str, headers: Message, children: list[bytes], depth: int) -> _Found:
        default = "message/rfc822" if ctype == "multipart/digest" else "text/plain"
        found = [self.part(child, default, depth + 1) for child in children]
        if ctype == "multipart/alternative":
            return _choose_alternative(found)
        if ctype == "multipart/related":
            return _related(found, _related_root(headers, children))
        merged = _Found()
        for child in found:
            merged.add(child)
        return merged


def _choose_alternative(found: list[_Found]) -> _Found:
    """The plain-text alternative if it says anything, else the first that does; attachments
    from every alternative, since some senders attach files to the HTML branch only."""
    chosen = next((f for f in found if f.has_plain()), None)
    chosen = chosen or next((f for f in found if f.has_text()), None) or _Found()
    result = _Found(pieces=list(chosen.pieces), attachments=list(chosen.attachments))
    for f in found:  # the same file is often attached to both branches
        result.attachments.extend(a for a in f.attachments if a not in result.attachments)
    return result


def _related_root(headers: Message, children: list[bytes]) -> int:
    start = headers.get_param("start")
    if isinstance(start, str) and start.strip():
        wanted = start.strip().strip("<>")
        for index, child in enumerate(children):
            cid = _split_headers(child)[0].get("Content-ID", "")
            if str(cid).strip().strip("<>") == wanted:
                return index
    return 0


def _related(found: list[_Found], root: int) -> _Found:
    """Only the root is read; the other parts are resources it refers to (images, CSS)."""
    result = _Found()
    for index, child in enumerate(found):
        if index == root:
            result.pieces.extend(child.pieces)
        result.attachments.extend(child.attachments)
    return result


def _leaf(headers: Message, ctype: str, body: bytes, number: int) -> _Found:
    data = _decode_transfer(body, headers.get("Content-Transfer-Encoding"))
    if ctype in _MESSAGE_TYPES:
        name = _forwarded_subject(data) or _filename(headers) or _FORWARDED
        return _Found(attachments=[Attachment(name, ctype, len(data), number)])
    filename = _filename(headers)
    if _is_attachment(headers, ctype, filename):
        return _Found(attachments=[Attachment(filename or _location_name(headers), ctype, len(data), number)])
    if ctype == "text/html":
        charset = headers.get_content_charset() or _meta_charset(data)
        return _Found(pieces=[("html", _decode_text(data, charset))])
    text = _decode_text(data, headers.get_content_charset())
    if _param(headers, "format") == "flowed":
        text = _unflow(text, delsp=_param(headers, "delsp") == "yes")
    return _Found(pieces=[("plain", text)])


def _is_attachment(headers: Message, ctype: str, filename: str) -> bool:
    if not ctype.startswith("text/") or ctype in _DATA_TEXT:
        return True
    return bool(filename) or _disposition(headers) == "attachment"


# --- MIME structure -----------------------------------------------------------------------------

def _split_headers(chunk: bytes) -> tuple[Message, bytes]:
    """Parse only the header block: the feed parser walks the body line by line in Python even
    when asked for headers only, which costs milliseconds per level on a large attachment."""
    if _LEADING_NEWLINE.match(chunk):
        return Message(policy=compat32), _LEADING_NEWLINE.sub(b"", chunk, count=1)
    end = _HEADER_END.search(chunk)
    head, body = (chunk, b"") if end is None else (chunk[: end.start()], chunk[end.end():])
    # Decoded here rather than by BytesParser: it would keep raw 8-bit bytes (a UTF-8 filename,
    # say) as surrogates that compat32 then turns into replacement characters on every access.
    codec = _guess_codec(head)
    headers = HeaderParser(policy=compat32).parsestr(head.decode(codec))
    headers.mailhub_codec = codec  # type: ignore[attr-defined]
    # A line that is no header ends the header block early (and the parser keeps it as payload).
    stray = headers.get_payload()
    if isinstance(stray, str) and stray:
        stray_bytes = stray.encode(codec)
        body = stray_bytes + chunk[end.start(): end.end()] + body if end else stray_bytes
    headers.set_payload(None)
    return headers, body


def _boundary(headers: Message) -> bytes:
    try:
        value = headers.get_boundary()
    except Exception:  # noqa: BLE001 - a malformed parameter list means no boundary
        return b""
    return value.encode(getattr(headers, "mailhub_codec", "utf-8"), "replace") if value else b""


def _split_multipart(body: bytes, boundary: bytes) -> list[bytes] | None:
    """The parts between delimiter lines (RFC 2046 5.1.1), or None when there are none.
    Matching whole lines only keeps boundaries that are prefixes of one another apart."""
    if not boundary:
        return None
    # Starts with a literal so the regex engine can scan for it fast; line starts checked below.
    delimiter = re.compile(b"--" + re.escape(boundary) + rb"(--)?[ \t]*(?:\r\n|\n|\r|\Z)")
    parts: list[bytes] = []
    start: int | None = None
    for match in delimiter.finditer(body):
        if match.start() and body[match.start() - 1] not in b"\r\n":
            continue
        if start is not None:
            parts.append(_drop_final_newline(body[start: match.start()]))
            if len(parts) >= MAX_PARTS:
                return parts
        if match.group(1):  # close delimiter: the rest is epilogue
            return parts
        start = match.end()
    if start is None:
        return None
    parts.append(body[start:])  # no close delimiter: the last part runs to the end
    return parts


def _drop_final_newline(part: bytes) -> bytes:
    """The line break before a delimiter belongs to the delimiter, not to the part."""
    if part.endswith(b"\r\n"):
        return part[:-2]
    return part[:-1] if part.endswith((b"\n", b"\r")) else part


def _param(headers: Message, name: str) -> str:
    value = headers.get_param(name)
    return value.strip().lower() if isinstance(value, str) else ""


def _disposition(headers: Message) -> str:
    value = headers.get("Content-Disposition")
    return str(value).split(";", 1)[0].strip().lower() if value else ""


def _filename(headers: Message) -> str:
    try:
        name = headers.get_filename() or ""
    except Exception:  # noqa: BLE001 - a malformed parameter list means no name
        name = ""
    return _clean_filename(decode_words(name))


def _location_name(headers: Message) -> str:
    """Apple Mail names inline images only by Content-Location. Not used to decide what is an
    attachment: HTML bodies saved from Outlook carry one too."""
    return _clean_filename(str(headers.get("Content-Location") or ""))


def _clean_filename(name: str) -> str:
    # Old clients send the sender's full path; a name is all a reader needs, and a path is unsafe
    # if anything ever saves the file under it.
    name = re.split(r"[/\\]", name)[-1]
    return "".join(ch for ch in name if ch.isprintable()).strip()


def _meta_charset(data: bytes) -> str | None:
    """HTML without a MIME charset usually names its own in a <meta> tag near the top."""
    found = _META_CHARSET.search(data[:4096])
    return found.group(1).decode("ascii") if found else None


def _forwarded_subject(data: bytes) -> str:
    headers, _ = _split_headers(data[:65536])
    return decode_words(str(headers.get("Subject") or ""))


# --- decoding -----------------------------------------------------------------------------------

def _decode_transfer(body: bytes, cte: str | None) -> bytes:
    encoding = re.match(r"[a-z0-9-]*", str(cte or "").strip().strip("\"'").lower()).group()
    try:
        if encoding == "base64":
            return _decode_base64(body)
        if encoding == "quoted-printable":
            return binascii.a2b_qp(body)
        if encoding in ("x-uuencode", "uuencode", "x-uue", "uue"):
            return _decode_uu(body)
    except Exception:  # noqa: BLE001 - undecodable content is shown as it came
        return body
    return body


def _decode_base64(body: bytes) -> bytes:
    """Lenient: skips junk characters, repairs padding, and keeps going past '=' in the middle
    (some encoders pad every line), where binascii would stop or raise."""
    out = []
    for segment in body.translate(None, _B64_JUNK).split(b"="):
        usable = len(segment) - len(segment) % 4 if len(segment) % 4 == 1 else len(segment)
        if usable:
            segment = segment[:usable]
            out.append(binascii.a2b_base64(segment + b"=" * (-len(segment) % 4)))
    return b"".join(out)


def _decode_uu(body: bytes) -> bytes:
    out = []
    inside = False
    for line in body.splitlines():
        if not inside:
            inside = line.startswith(b"begin ")
            continue
        if line.strip() in (b"end", b"`"):
            break
        try:
            out.append(binascii.a2b_uu(line))
        except binascii.Error:  # some encoders write garbage past the declared length
            length = (((line[0] - 32) & 63) * 4 + 5) // 3 if line else 0
            out.append(binascii.a2b_uu(line[:length]))
    return b"".join(out) if inside else body


def _codec(declared: str | None) -> str | None:
    """Python's name for a declared charset, or None when it is missing, unknown or not text."""
    name = (declared or "").strip().strip("\"'").lower()
    if name in _NO_CHARSET:
        return None
    name = _CHARSET_ALIASES.get(name, name)
    try:
        info = codecs.lookup(name)
    except (LookupError, ValueError):  # ValueError: a NUL in the name
        return None
    return info.name if getattr(info, "_is_text_encoding", True) else None


def _decode_text(data: bytes, declared: str | None) -> str:
    if not data:
        return ""
    codec = _codec(declared)
    if codec is None or codec == "ascii":  # 8-bit under "us-ascii" is as good as undeclared
        return _guess_decode(data)
    if codec.startswith(_SINGLE_BYTE) and not data.isascii():
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            pass
    try:
        return data.decode(codec)
    except Exception:  # noqa: BLE001 - wrong charset: guess below
        pass
    if codec == "utf-8":
        return _damaged_utf8(data)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode(codec, errors="replace")
    except Exception:  # noqa: BLE001 - some codecs (idna) refuse error handlers
        return _guess_decode(data)


def _damaged_utf8(data: bytes) -> str:
    """Declared UTF-8 that is not: if no multi-byte sequence in it is valid, it is some other
    charset mislabelled (usually Windows-1252); otherwise UTF-8 with a few broken bytes."""
    text = data.decode("utf-8", errors="replace")
    if _VALID_NON_ASCII.search(text):
        return text
    return _guess_decode(data)


def _guess_decode(data: bytes) -> str:
    return data.decode(_guess_codec(data))


def _guess_codec(data: bytes) -> str:
    """UTF-8 if it decodes (invalid UTF-8 is rarely valid by accident), else Windows' Western
    charset, which most undeclared 8-bit mail is, else latin-1, which decodes any bytes."""
    if data.isascii():
        return "ascii"
    for attempt in ("utf-8", "cp1252"):
        try:
            data.decode(attempt)
            return attempt
        except UnicodeDecodeError:
            continue
    return "latin-1"


def decode_words(value: str) -> str:
    """RFC 2047 encoded words to text (in headers, and in filenames, where many clients use them
    against RFC 2231). A charset that is unknown, not a text encoding or wrong is guessed at, as
    for a body: never an error."""
    if "=?" not in value:
        return value
    try:
        chunks = email.header.decode_header(value)
    except Exception:  # noqa: BLE001 - a malformed encoded word is left as written
        return value
    return "".join(_word_text(chunk, charset) for chunk, charset in chunks)


def _word_text(chunk: bytes | str, charset: str | None) -> str:
    if isinstance(chunk, str):
        return chunk
    if charset is None:  # text around the encoded words, which decode_header encodes this way
        return chunk.decode("raw-unicode-escape", "replace")
    return _decode_text(chunk, charset)


def _as_bytes(raw: object) -> bytes:
    if isinstance(raw, str):
        return raw.encode("utf-8", "surrogateescape")
    return bytes(raw)  # type: ignore[arg-type]


# --- format=flowed (RFC 3676) ------------------------------------------------------------------

def _unflow(text: str, delsp: bool = False) -> str:
    """Join soft-broken lines: a line ending in a space continues on the next line of the same
    quote depth. The signature separator '-- ' ends in a space but is always a hard break."""
    out: list[str] = []
    paragraph: list[str] = []
    depth = 0
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        quote = _QUOTE_MARKS.match(line)
        line_depth = len(quote.group()) if quote else 0
        content = line[line_depth:]
        if content.startswith(" "):  # space-stuffing, or the space after quote marks
            content = content[1:]
        if paragraph and line_depth != depth:  # a quote change ends a paragraph (4.5)
            out.append(_quoted(depth, "".join(paragraph)))
            paragraph = []
        depth = line_depth
        flowed = content.endswith(" ") and content != "-- "
        if flowed and delsp:
            content = content[:-1]
        paragraph.append(content)
        if not flowed:
            out.append(_quoted(depth, "".join(paragraph)))
            paragraph = []
    if paragraph:
        out.append(_quoted(depth, "".join(paragraph)))
    return "\n".join(out)


def _quoted(depth: int, text: str) -> str:
    return (">" * depth + " " + text) if depth else text


# --- HTML to text -------------------------------------------------------------------------------

def _render(piece: tuple[str, str]) -> str:
    kind, text = piece
    if kind == "html":
        # Imported here: lxml and inscriptis (~6 MB) only in a process that reads HTML mail, not in
        # the SMTP listener, which reads headers only.
        from mailhub.html_text import html_to_text

        text = html_to_text(text)
    return text.replace("\r\n", "\n").replace("\r", "\n").strip("\n").rstrip()


# --- last resorts -------------------------------------------------------------------------------

def _tidy(text: str) -> str:
    return text.replace("\x00", "").strip("\n").rstrip()


def _raw_fallback(raw: object) -> str:
    try:
        data = raw if isinstance(raw, bytes) else _as_bytes(raw)
        end = _HEADER_END.search(data)
        body = data[end.end():] if end else data
        return _tidy(_guess_decode(body).replace("\r\n", "\n").replace("\r", "\n"))
    except Exception:  # noqa: BLE001 - not even bytes: nothing readable
        return ""
