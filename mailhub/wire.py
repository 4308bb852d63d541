"""Every line of mail mailhub sends fits RFC 5322's 998 bytes (2.1.1), so no relay answers
"500 Line too long". Authors' mail often has longer lines once decoded (a quoted-printable
paragraph from Outlook or a phone); a part whose body would go out with one is re-encoded,
quoted-printable for text and base64 for the rest, and a header is folded at its spaces, or
encoded where encoding keeps its meaning, or else left out."""
from __future__ import annotations

import base64
import binascii
import email
import io
import logging
import re
from email.generator import BytesGenerator
from email.header import Header
from email.message import Message
from email.policy import SMTP, compat32
from typing import Iterator, Optional

from mailhub.parse import decode_header

log = logging.getLogger(__name__)

MAX_LINE = 998  # bytes in a line, without its CRLF
FOLD_AT = 78  # RFC 5322's SHOULD: where headers are folded when they have to be
WIRE = compat32.clone(linesep="\r\n")
# Headers of free text, which RFC 2047 encoded words may split anywhere without changing them.
UNSTRUCTURED = frozenset({"subject", "comments", "thread-topic", "content-description"})
# Headers of MIME parameters, which RFC 2231 continuations may split anywhere.
PARAMETERS = frozenset({"content-type", "content-disposition"})
_ASCII = bytes(range(0x80))
_WORDS = re.compile(r"[ \t]*[^ \t]+|[ \t]+")


def has_long_line(data: bytes) -> bool:
    """A line over MAX_LINE bytes; CR, LF and CRLF each end a line, as a relay reading it counts."""
    return max(map(len, data.splitlines()), default=0) > MAX_LINE


def qp_is_smaller(data: bytes) -> bool:
    """Quoted-printable spends 3 bytes on each non-ASCII byte, base64 4 on every 3: QP wins for
    mostly-Latin text, base64 for text mostly in another script."""
    high = len(data.translate(None, _ASCII))  # the non-ASCII bytes, counted in C
    return high * 2 < len(data) * 0.37


def short_lines(data: bytes, label: str = "") -> bytes:
    """`data` itself when every line fits; else the same mail with its long lines re-encoded or
    refolded (see `shorten`). For mail built as bytes (digests, notices); `label` names it in the log."""
    if not has_long_line(data):
        return data
    msg = email.message_from_bytes(data, policy=compat32)
    shorten(msg, label=label)
    return flatten(msg)


def flatten(msg: Message) -> bytes:
    out = io.BytesIO()
    BytesGenerator(out, mangle_from_=False, policy=WIRE).flatten(msg)
    return out.getvalue()


def shorten(msg: Message, message_id: str = "", label: str = "") -> None:
    """Change what in `msg` (parsed with compat32) would go out on a line over MAX_LINE: each
    such body re-encoded, each such header refolded, encoded or left out. `message_id` (without
    brackets) replaces a Message-ID too long to send; `label` names the mail in the log."""
    for part in _parts(msg):
        _short_headers(part, message_id if part is msg else "", label or message_id)
        payload = _payload(part)
        if isinstance(payload, list):
            for edge in ("preamble", "epilogue"):  # text no MIME reader shows: left out
                text = getattr(part, edge)
                if text and has_long_line(text.encode("utf-8", "surrogateescape")):
                    setattr(part, edge, None)
        elif isinstance(payload, str) and has_long_line(payload.encode("utf-8", "surrogateescape")):
            reencode(part)


def _parts(msg: Message) -> Iterator[Message]:
    """Every part, attached messages' too, depth first; a loop, so deep nesting costs no stack."""
    stack = [msg]
    while stack:
        part = stack.pop()
        yield part
        payload = _payload(part)
        if isinstance(payload, list):
            stack.extend(reversed([p for p in payload if isinstance(p, Message)]))


def _payload(part: Message) -> object:
    """The payload as BytesGenerator writes it: a list of parts, or a str with 8-bit bytes kept
    as surrogates. (get_payload() would decode those by the part's charset, which can be any
    name, and change what is measured.)"""
    return part._payload  # noqa: SLF001


def reencode(part: Message) -> None:
    """A leaf part's body as quoted-printable (text) or base64: lines of 76 at most, the same
    bytes once decoded."""
    data = body_bytes(part)
    if part.get_content_maintype() in ("multipart", "message"):
        # A container the parser could not read as one (a multipart without its boundary): RFC
        # 2045 forbids encoding one, so it goes out as the text it is.
        del part["Content-Type"]
        part["Content-Type"] = "text/plain"
    del part["Content-Transfer-Encoding"]
    if part.get_content_maintype() == "text" and qp_is_smaller(data):
        encoded, name = binascii.b2a_qp(data, istext=True), "quoted-printable"
    else:
        encoded, name = base64.encodebytes(data), "base64"
    part.set_payload(encoded.decode("ascii"))
    part["Content-Transfer-Encoding"] = name


def body_bytes(part: Message) -> bytes:
    """A leaf part's body, decoded from its transfer encoding."""
    payload = _payload(part)
    if not isinstance(payload, str):
        return b""
    encoding = str(part.get("Content-Transfer-Encoding", "")).strip().lower()
    if encoding in ("quoted-printable", "base64", "x-uuencode", "uuencode", "x-uue", "uue"):
        return part.get_payload(decode=True) or b""
    return payload.encode("utf-8", "surrogateescape")  # 7bit, 8bit, binary: the bytes as they came


def _fits(name: str, value: object) -> bool:
    return not has_long_line(WIRE.fold_binary(name, value))


def _short_headers(part: Message, message_id: str, label: str) -> None:
    items = list(part.raw_items())
    if all(_fits(name, value) for name, value in items):
        return
    kept = []
    for name, value in items:
        fixed = short_header(name, value, message_id)
        if fixed is None:
            log.warning("mail %s: header %s left out: a line over %d bytes that cannot be folded",
                        label or "?", name, MAX_LINE)
        else:
            kept.append((name, fixed))
    for name in {name for name, _ in items}:
        del part[name]
    for name, value in kept:  # in their order
        part[name] = value


def short_header(name: str, value: object, message_id: str = "") -> Optional[object]:
    """`value`, or what to send instead so that no line of the header is over MAX_LINE; None
    when nothing can (an address or an id longer than a line): the header is left out."""
    if _fits(name, value):
        return value
    text = value if isinstance(value, str) else str(value)
    folded = fold_at_spaces(name, text)
    if _fits(name, folded):
        return folded
    lower = name.lower()
    if lower in UNSTRUCTURED:
        return Header(decode_header(_unescaped(text)), "utf-8", header_name=name)
    if lower in PARAMETERS:
        try:
            refolded = SMTP.fold(name, _unescaped(text))  # RFC 2231 continuations, folded at 78
        except Exception:  # noqa: BLE001 - parameters too broken to parse are left out
            return None
        value = refolded.partition(":")[2].strip()
        return value if _fits(name, value) else None
    if lower == "message-id" and message_id and _fits(name, f"<{message_id}>"):
        return f"<{message_id}>"
    return None


def fold_at_spaces(name: str, value: str) -> str:
    """`value` with a line break before a space or tab wherever a line would pass FOLD_AT (a
    word longer than that stays whole); the header means the same (RFC 5322 2.2.3)."""
    out: list[str] = []
    used = len(name) + 2
    for number, line in enumerate(re.split(r"\r?\n", value)):
        if number:
            out.append("\r\n")
            used = 0
        for word in _WORDS.findall(line):
            if used + len(word) > FOLD_AT and used > 0 and word[:1] in (" ", "\t") and word.strip():
                out.append("\r\n")
                used = 0
            out.append(word)
            used += len(word)
    return "".join(out)


def _unescaped(value: str) -> str:
    """A raw header value as text: 8-bit bytes (the parser keeps them as surrogates) read as
    UTF-8 (RFC 6532), else as Windows-1252; folding undone."""
    data = value.encode("utf-8", "surrogateescape")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("cp1252", errors="replace")
    return re.sub(r"\r?\n(?=[ \t])", "", text)
