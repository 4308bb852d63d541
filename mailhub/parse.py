"""Derive what processing needs from raw bytes. Never raises on bad mail: it degrades."""
from __future__ import annotations

import base64
import binascii
import email.utils
import logging
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.message import Message as EmailMessage
from typing import Optional

from mailhub.body import Attachment, decode_words, read_body, read_headers
from mailhub.i18n.languages import declared_language

log = logging.getLogger(__name__)

_MSGID = re.compile(r"<([^<>\s]+)>")


@dataclass(frozen=True)
class Parsed:
    message_id: str
    from_addr: str
    from_name: str
    subject: str
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    list_id: str
    auto_submitted: str
    precedence: str
    date: datetime | None
    body_text: str
    attachments: tuple[Attachment, ...] = field(default_factory=tuple)
    thread_index: str = ""  # Outlook's conversation id, hex; "" when absent
    mime_over_limit: str = ""  # what of the MIME tree was too large to read (body.Body.over_limit)
    # The shipped language the mail says it is in (Content-Language) or its writer reads
    # (Accept-Language): what a stranger's answer is written in.
    language: Optional[str] = None


def decode_header(value: str | None) -> str:
    """RFC 2047 words to text, whitespace runs made one space; unknown or wrong charsets are
    guessed at like a body's, never an error."""
    if not value:
        return ""
    return " ".join(decode_words(str(value)).replace("\x00", "").split())  # NUL: no text, PostgreSQL refuses it


def message_ids(value: str | None) -> tuple[str, ...]:
    """All Message-IDs in a header, in order; tolerates missing brackets and comments."""
    if not value:
        return ()
    value = str(value).replace("\x00", "")  # PostgreSQL's text cannot hold NUL; no id needs one
    found = _MSGID.findall(value)
    if not found:
        found = [t for t in re.split(r"[\s,]+", re.sub(r"\([^)]*\)", " ", str(value))) if "@" in t]
    return tuple(dict.fromkeys(found))


def conversation_id(thread_index: str | None) -> str:
    """Outlook's Thread-Index is base64 of a 22-byte header (time + conversation GUID) plus 5 bytes
    per reply; the first 22 bytes are the same for every message of one conversation."""
    if not thread_index:
        return ""
    try:
        data = base64.b64decode("".join(str(thread_index).split()), validate=False)
    except (ValueError, binascii.Error):
        return ""
    return data[:22].hex() if len(data) >= 22 else ""


def _all(headers: EmailMessage, name: str) -> str:
    """Every occurrence of a header joined: some clients write References twice."""
    return " ".join(str(v) for v in headers.get_all(name) or [])


def header_message_id(headers: EmailMessage) -> str:
    ids = message_ids(headers.get("Message-ID"))
    return ids[0][:255] if ids else ""


def _date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(str(value))
    except (TypeError, ValueError, IndexError):
        return None
    if parsed.tzinfo is None:  # RFC 5322 "-0000": the zone is unknown; UTC is the best guess
        return parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)


def parse_message(raw: bytes) -> Parsed:
    headers = read_headers(raw)
    name, addr = email.utils.parseaddr(str(headers.get("From") or ""))
    body = read_body(raw)
    return Parsed(
        message_id=header_message_id(headers),
        from_addr=addr.replace("\x00", "").strip().lower(),
        from_name=decode_header(name),
        subject=decode_header(headers.get("Subject")),
        in_reply_to=message_ids(_all(headers, "In-Reply-To")),
        references=message_ids(_all(headers, "References")),
        list_id=decode_header(headers.get("List-Id")),
        auto_submitted=decode_header(headers.get("Auto-Submitted")).lower(),
        precedence=decode_header(headers.get("Precedence")).lower(),
        date=_date(headers.get("Date")),
        body_text=body.text.replace("\x00", ""),  # as in headers: NUL is no text, and PostgreSQL refuses it
        attachments=body.attachments,
        thread_index=conversation_id(headers.get("Thread-Index")),
        language=declared_language(decode_header(headers.get("Content-Language")),
                                   decode_header(headers.get("Accept-Language"))),
        mime_over_limit=body.over_limit,
    )
