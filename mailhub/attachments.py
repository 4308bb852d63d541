"""Attachments for readers on slow, metered connections: a copy may name an attachment in one
line instead of carrying it, and `get attachment ID` mails the file to a member who wants it.
An ID is the stored message's number and the attachment's part number, like `412.3`."""
from __future__ import annotations

import email
import re
from dataclasses import dataclass
from email.message import Message
from email.policy import compat32
from pathlib import Path
from typing import Iterator, Optional

from mailhub.body import Attachment, extract_body
from mailhub.i18n.languages import DEFAULT
from mailhub.notices import render

_REF = re.compile(r"^(\d{1,12})\.(\d{1,6})$")


@dataclass(frozen=True)
class AttachedFile:
    filename: str
    content_type: str
    data: bytes


def attachment_ref(message_number: int, attachment: Attachment) -> str:
    return f"{message_number}.{attachment.part}"


def read_ref(text: str) -> Optional[tuple[int, int]]:
    """(message number, part number) from what a person wrote, or None."""
    found = _REF.match(text.strip().strip("<>.,;\"'"))
    return (int(found.group(1)), int(found.group(2))) if found else None


_SIZE = re.compile(r"(\d{1,10}(?:\.\d{1,3})?)\s*(b|bytes?|k|kb|m|mb)?", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "byte": 1, "bytes": 1, "k": 1024, "kb": 1024, "m": 1024 ** 2, "mb": 1024 ** 2}
MAX_SIZE = 1024 ** 3


def read_size(text: str) -> int:
    """`1MB`, `500 KB`, `200000`: a size in bytes; ValueError says what is wrong."""
    found = _SIZE.fullmatch(text.strip())
    if not found:
        raise ValueError(f"a size like 1MB, 500KB or 200000 (bytes), not '{text}'")
    size = int(float(found.group(1)) * _UNITS[(found.group(2) or "").lower()])
    if size > MAX_SIZE:
        raise ValueError(f"at most 1024MB, not '{text}'")
    return size


def size_text(size: int) -> str:
    """A size for the command line and logs (attachment_line.txt writes one in the reader's language)."""
    if size < 1024:
        return f"{size} bytes"
    if size < 1024 * 1024:
        return f"{round(size / 1024)} KB"
    return f"{size / (1024 * 1024):.1f} MB"


def attachment_line(attachment: Attachment, templates: Path, ref: str = "", request_address: str = "",
                    language: str = DEFAULT) -> str:
    """The line, in `language`, that stands for an attachment left out of a copy; with `ref`, it
    says how to get it."""
    return render(templates, "attachment_line.txt", language, filename=attachment.filename,
                  content_type=attachment.content_type, size=attachment.size, ref=ref,
                  request_address=request_address).strip()


def mime_parts(msg: Message) -> Iterator[Message]:
    """Every part, depth first, numbered as body.py numbers them (`Attachment.part`): the walk
    goes into multiparts but not into attached messages, which are one attachment each."""
    yield msg
    if msg.get_content_maintype() == "multipart" and msg.is_multipart():
        for child in msg.get_payload():
            yield from mime_parts(child)


def part_at(msg: Message, number: int) -> Optional[Message]:
    for index, part in enumerate(mime_parts(msg)):
        if index == number:
            return part
    return None


def matching_part(msg: Message, attachment: Attachment) -> Optional[Message]:
    """The part `attachment` was read from; None if the two walks disagree (broken MIME), so
    nothing else is ever cut out or sent in its place."""
    part = part_at(msg, attachment.part)
    return part if part is not None and part.get_content_type() == attachment.content_type else None


class Unreadable(Exception):
    """The attachment exists but the email package cannot take it out (forwards nested so deep
    that it recurses past Python's limit)."""


def file_at(raw: bytes, number: int) -> Optional[AttachedFile]:
    """Attachment `number` of a stored message, decoded; None when that part is not an attachment."""
    attachment = next((a for a in extract_body(raw)[1] if a.part == number), None)
    if attachment is None:
        return None
    try:
        return _decoded(raw, attachment)
    except RecursionError:
        raise Unreadable(attachment.filename) from None


def _decoded(raw: bytes, attachment: Attachment) -> Optional[AttachedFile]:
    part = matching_part(email.message_from_bytes(raw, policy=compat32), attachment)
    if part is None:
        return None
    if part.is_multipart():  # an attached message: its own bytes
        inner = part.get_payload(0)
        data = inner.as_bytes() if isinstance(inner, Message) else b""
    else:
        data = part.get_payload(decode=True) or b""
    return AttachedFile(attachment.filename, attachment.content_type, data)
