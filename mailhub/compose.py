"""Build the list copy of a stored message. The shared part is built once per message and
language of its footer (and once more, text-only, for members who asked for plain copies); each
recipient only adds their own List-Unsubscribe lines (and DKIM signature, see signing.py) and
envelope sender."""
from __future__ import annotations

import email
import email.utils
import logging
import re
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from email.charset import BASE64, QP, Charset
from email.header import Header
from email.message import Message as EmailMessage
from email.mime.text import MIMEText
from email.parser import BytesHeaderParser
from email.policy import compat32
from pathlib import Path
from typing import Optional

from mailhub.attachments import attachment_line, attachment_ref, matching_part
from mailhub.body import Attachment, extract_body, read_headers
from mailhub.i18n.catalogs import translations
from mailhub.i18n.languages import DEFAULT
from mailhub.names import author_name
from mailhub.notices import render
from mailhub.parse import decode_header, header_message_id
from mailhub.relay import TOKEN_LENGTH
from mailhub.router import PRIVATE, address_for, list_id
from mailhub.wire import MAX_LINE, WIRE, flatten, has_long_line, qp_is_smaller, shorten

log = logging.getLogger(__name__)

# Headers that must not travel from the author's mail into list copies: private routing,
# signatures the copy breaks, read-receipt requests, and another list's identity.
DROPPED = ("Bcc", "Return-Path", "DKIM-Signature", "X-Original-To", "Delivered-To",
           "Disposition-Notification-To", "Return-Receipt-To", "Reply-To", "Sender", "Errors-To",
           "Precedence", "List-Id", "List-Post", "List-Help", "List-Unsubscribe", "List-Unsubscribe-Post",
           "List-Subscribe", "List-Archive", "List-Owner", "X-Original-From", "ARC-Seal",
           "ARC-Message-Signature", "ARC-Authentication-Results")
# In a group that hides addresses, the only headers of the author's mail that travel into copies:
# those that describe the message itself. The rest (To and Cc, trace headers like Received,
# Received-SPF and Authentication-Results, Autocrypt, X-Originating-Email …) may carry a
# member's address; To becomes the group's address, and the list adds its own headers.
KEPT_WHEN_HIDDEN = frozenset(name.lower() for name in (
    "From", "Subject", "Date", "Message-ID", "In-Reply-To", "References", "MIME-Version", "Content-Type",
    "Content-Transfer-Encoding", "Content-Disposition", "Content-Description", "Content-Language",
    "Thread-Index", "Thread-Topic", "Importance", "Priority", "X-Priority", "Accept-Language"))
_MESSAGE_ID = re.compile(r"<[^<>\s]*>")
# Where str.splitlines() breaks a line but RFC 5322 does not (CR and LF are handled by the parser).
_LINE_BREAKS = re.compile("[\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")
# The headers that describe a body rather than the message: they move with the body.
_BODY_HEADERS = ("Content-Type", "Content-Transfer-Encoding", "Content-Disposition", "Content-Description")


def unsubscribe_headers(leave_address: str, link: Optional[str] = None) -> list[tuple[str, str]]:
    """A member's List-Unsubscribe (RFC 2369): their own `-leave` address, and with a web link
    first, RFC 8058's one-click form that Gmail's and Yahoo's unsubscribe button POSTs to."""
    mailto = f"<mailto:{leave_address}?subject=unsubscribe>"
    if link is None:
        return [("List-Unsubscribe", mailto)]
    return [("List-Unsubscribe", f"<{link}>,\r\n {mailto}"),  # folded: one line would pass 78
            ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click")]


# Where a copy's footer gives the reader's own private-reply address (relay.py): a token of the
# same length, filled in per reader by CopyTemplate.for_recipient. Underscores, which no token
# has, pass through 7-bit and quoted-printable text unchanged (the footer is never base64 when
# it holds the slot: see _set_text).
RELAY_SLOT = "_" * TOKEN_LENGTH


@dataclass(frozen=True)
class CopyTemplate:
    head: bytes  # header lines shared by every recipient, each ending in CRLF
    body: bytes  # the blank line and everything after it
    # DKIM bh= of the body, made once for all recipients; each copy is signed for its recipient,
    # so the signature covers their List-Unsubscribe (see signing.py).
    body_hash: bytes = b""
    # The bytes of RELAY_SLOT's address when the footer holds one: each reader's body differs.
    slot: bytes = b""

    def for_recipient(self, unsubscribe_address: str, link: Optional[str] = None,
                      relay_token: str = "") -> bytes:
        """The copy for one member: their leave address and, with [web], their one-click link;
        and where the footer offers a private reply, their own relay address for it."""
        lines = "".join(f"{name}: {value}\r\n" for name, value in unsubscribe_headers(unsubscribe_address, link))
        body = self.body
        if self.slot:
            body = body.replace(self.slot, self.slot.replace(RELAY_SLOT.encode(), relay_token.encode()))
        return self.head + lines.encode() + body


@dataclass(frozen=True)
class ListInfo:
    name: str
    title: str
    domain: str
    prefix: str
    from_rewrite: bool
    topic_key: str | None
    message_id: str
    number: int | None = None  # the stored message's id, which `get attachment` refers to
    max_attachment_size: int | None = None  # bytes; larger attachments are named, not sent
    received_at: datetime | None = None  # when it arrived: the Date of a copy of mail without one
    # The author's name as processing stored it (Message.from_name): their mail's display name,
    # else their member name; shown when the mail's From has no name (see names.author_name).
    author_name: str = ""
    # The group hides members' addresses (Group.addresses): no copy carries the author's or any
    # other member's address, and From is rewritten whatever `from_rewrite` says.
    hidden: bool = False
    # Where the group hides addresses and the author is a member: the footer offers a private
    # reply through the group, each reader's own relay address (RELAY_SLOT).
    relay: bool = False
    private_copy: str = ""  # the group's safeguarding address, which the footer names


def private_address(info: ListInfo, author_address: str) -> str:
    """Where the footer's "Write to … privately" line points, or "" for no such line: the
    author's own address where the group shows addresses; where it hides them, the reader's relay
    address to the author (filled in per reader), or none when the author is not a member."""
    if not info.hidden:
        return author_address
    return address_for(info.name, info.domain, PRIVATE, RELAY_SLOT) if info.relay else ""


def header_value(text: str, name: str = "Subject") -> str:
    """ASCII stays as is; anything else is RFC 2047-encoded so it survives any relay, and so is
    ASCII with a word too long for one line (encoded words can be split anywhere)."""
    longest = max(map(len, text.split()), default=0)
    if text.isascii() and len(name) + 2 + longest <= MAX_LINE:
        return text
    return Header(text, "utf-8", header_name=name).encode(linesep="\r\n")  # folded for SMTP


def prefixed_subject(subject: str, prefix: str) -> str:
    if not prefix or prefix.lower() in subject.lower():
        return subject
    return f"{prefix} {subject}".strip()


def _text_charset(text: str, footer: str) -> Charset:
    """The cheapest safe encoding for a phone on a metered line: plain 7-bit for ASCII,
    quoted-printable for mostly-Latin text, base64 when the author's text is mostly non-ASCII."""
    if text.isascii() and footer.isascii():
        return Charset("us-ascii")
    charset = Charset("utf-8")
    charset.body_encoding = QP if qp_is_smaller(text.encode("utf-8")) else BASE64
    return charset


def _set_text(msg: EmailMessage, text: str, footer: str) -> None:
    """Make `msg` a single text/plain part: `text`, then the footer, cheaply encoded. A text best
    sent in base64 with a footer that holds a relay slot becomes text and footer in two parts, so
    the slot stays where it can be filled in."""
    del msg["Content-Transfer-Encoding"]
    text = text.replace("\r\n", "\n").rstrip("\n")
    charset = _text_charset(text, footer)
    if RELAY_SLOT in footer and charset.body_encoding == BASE64:
        msg.set_payload(text, charset=charset)
        _footer_beside(msg, footer)
        return
    body = f"{text}\n\n{footer}" if text else footer
    msg.set_payload(body, charset=charset)


def _footer_part(footer: str) -> MIMEText:
    """The footer as a part of its own: quoted-printable, which keeps a relay slot as it is
    and costs little on a few lines."""
    part = MIMEText("", "plain")
    charset = Charset("us-ascii" if footer.isascii() else "utf-8")
    if not footer.isascii():
        charset.body_encoding = QP
    del part["Content-Transfer-Encoding"]
    part.set_payload(footer, charset=charset)
    return part


def _decoded_text(msg: EmailMessage) -> str:
    payload = msg.get_payload(decode=True) or b""
    charset = msg.get_content_charset() or "us-ascii"
    try:
        return payload.decode(charset, errors="replace")
    except LookupError:
        return payload.decode("utf-8", errors="replace")


def _add_footer(msg: EmailMessage, footer: str) -> None:
    if not msg.is_multipart() and msg.get_content_type() == "text/plain":
        _set_text(msg, _decoded_text(msg), footer)
        return
    _footer_beside(msg, footer)


def _footer_beside(msg: EmailMessage, footer: str) -> None:
    """The footer as the last part of a multipart/mixed: `msg`'s, or one made around its body."""
    footer_part = _footer_part(footer) if RELAY_SLOT in footer else MIMEText(footer, "plain", "utf-8")
    if msg.get_content_type() == "multipart/mixed":
        msg.attach(footer_part)
        return
    inner = EmailMessage()
    for name in _BODY_HEADERS:
        if name in msg:
            inner[name] = msg[name]
            del msg[name]
    inner.set_payload(msg.get_payload())
    msg["Content-Type"] = "multipart/mixed"
    if "MIME-Version" not in msg:
        msg["MIME-Version"] = "1.0"
    msg.set_payload([inner, footer_part])


def _request_address(info: ListInfo) -> str:
    return address_for(info.name, info.domain, "request")


def _line_for(attachment: Attachment, info: ListInfo, templates: Path, language: str) -> str:
    ref = attachment_ref(info.number, attachment) if info.number is not None and attachment.part >= 0 else ""
    return attachment_line(attachment, templates, ref, _request_address(info), language)


def plain_text(raw: bytes, info: ListInfo, templates: Path, language: str = DEFAULT) -> str:
    """The readable text of a post (HTML made text), each attachment replaced by a line naming it
    in `language`."""
    text, attachments = extract_body(raw)
    lines = [_line_for(a, info, templates, language) for a in attachments]
    return "\n\n".join(part for part in (text.rstrip("\n"), "\n".join(lines)) if part)


def _leave_out_large(msg: EmailMessage, raw: bytes, info: ListInfo, templates: Path, language: str) -> None:
    """Replace each attachment over the group's size limit by a text part with its line."""
    if info.max_attachment_size is None or len(raw) <= info.max_attachment_size:
        return  # no part decodes to more bytes than the whole mail has
    for attachment in extract_body(raw)[1]:
        if attachment.size <= info.max_attachment_size:
            continue
        part = matching_part(msg, attachment)
        if part is None:
            log.warning("message %s: cannot find attachment %r to leave out", info.message_id, attachment.filename)
            continue
        had_version = "MIME-Version" in part
        for name in _BODY_HEADERS:
            del part[name]
        line = _line_for(attachment, info, templates, language) + "\n"
        part.set_payload(line, charset=_text_charset(line, ""))
        if not had_version and part is not msg:
            del part["MIME-Version"]


def _is_calendar(part: EmailMessage) -> bool:
    return part.get_content_type() in ("text/calendar", "application/ics") or \
        str(part.get_filename() or "").lower().endswith(".ics")


def _leave_out_calendars(msg: EmailMessage) -> None:
    """Calendar parts name the organizer and every guest by address (ORGANIZER, ATTENDEE). An
    invitation that became an event goes out as each member's own (mailhub.events.invite); one
    that did not (past, unreadable, an old update) loses them in a group that hides addresses."""
    for part in list(msg.walk()):
        if part.is_multipart() and any(_is_calendar(p) for p in part.get_payload()):
            kept = [p for p in part.get_payload() if not _is_calendar(p)]
            part.set_payload(kept or [MIMEText("", "plain")])


def _make_plain(msg: EmailMessage, text: str, footer: str) -> None:
    """Replace whatever body `msg` has with one text/plain part; the headers stay as they are."""
    for name in _BODY_HEADERS:
        del msg[name]
    _set_text(msg, text, footer)  # a new text/plain Content-Type, and MIME-Version if missing


def _split(data: bytes) -> CopyTemplate:
    head, sep, body = data.partition(b"\r\n\r\n")
    return CopyTemplate(head=head + b"\r\n", body=b"\r\n" + body)


def _one_line(text: str) -> str:
    """Printable text on one line: a name or subject from the author's mail cannot break the
    header it goes into."""
    return " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())


def _one_line_headers(msg: EmailMessage) -> None:
    """Make every header value one logical line for the email package, which folds a header at
    anything str.splitlines() splits at: after a vertical tab or form feed the rest of the value
    would start a line without leading space, which ends the header block early and pushes the
    list's own headers into the body."""
    items = list(msg.raw_items())
    if not any(isinstance(value, str) and _LINE_BREAKS.search(value) for _, value in items):
        return
    for name in {name for name, _ in items}:
        del msg[name]
    for name, value in items:  # the same order, raw values (8-bit bytes) kept
        msg[name] = _LINE_BREAKS.sub(" ", value) if isinstance(value, str) else value


def _hide_addresses(msg: EmailMessage, post: str) -> None:
    """Leave only the headers that describe the message (KEPT_WHEN_HIDDEN), message ids without
    the comments old mail programs add to In-Reply-To ("from ann@… on Monday"), and the group's
    address as To."""
    for name in {name for name in msg.keys() if name.lower() not in KEPT_WHEN_HIDDEN}:
        del msg[name]
    for name in ("In-Reply-To", "References"):
        value = msg.get(name)
        if value is not None:
            del msg[name]
            ids = _MESSAGE_ID.findall(str(value))
            if ids:
                msg[name] = " ".join(ids)
    msg["To"] = post


def _list_headers(msg: EmailMessage, info: ListInfo, sender: str, subject: str) -> None:
    """Turn the author's headers into the list copy's: private ones dropped, From rewritten (to
    `sender`, "Ann via mentors" in the reader's language), the
    subject prefixed, the list's own added. Where the group hides addresses, only the headers
    that describe the message stay, and the author is named by name alone."""
    _one_line_headers(msg)
    post = address_for(info.name, info.domain)
    for name in DROPPED:
        del msg[name]
    if info.hidden:
        _hide_addresses(msg, post)
    if info.from_rewrite or info.hidden:
        original_from = msg.get("From")
        del msg["From"]
        msg["From"] = email.utils.formataddr((_one_line(sender), post), charset="utf-8")
        if original_from and not info.hidden:
            msg["X-Original-From"] = original_from
    del msg["Subject"]
    msg["Subject"] = header_value(_one_line(prefixed_subject(subject, info.prefix)))
    if header_message_id(msg) != info.message_id:  # none, or one an earlier, different mail has:
        del msg["Message-ID"]  # the copy carries the id it is stored under, or mail programs that
        msg["Message-ID"] = f"<{info.message_id}>"  # drop a second mail with a known id would drop it
    _date_if_missing(msg, info.received_at)
    msg["Reply-To"] = f"<{address_for(info.name, info.domain, token=info.topic_key)}>"
    title = f'"{info.title}" ' if info.title and info.title.isascii() and '"' not in info.title else ""
    msg["List-Id"] = f"{title}<{list_id(info.name, info.domain)}>"
    msg["List-Post"] = f"<mailto:{post}>"
    msg["List-Help"] = f"<mailto:{address_for(info.name, info.domain, 'request')}?subject=help>"
    msg["Precedence"] = "list"


def build_copy(raw: bytes, info: ListInfo, templates: Path, plain: bool = False,
               language: str = DEFAULT) -> CopyTemplate:
    """The copy members who read `language` get; with `plain`, the text-only one (no HTML part,
    attachments named instead of sent) with the same headers and footer. Attachments over the
    group's size limit are named instead of sent in both. The footer and those names are in
    `language`; the author's text is as they wrote it. Never raises on bad mail: see `_body_unchanged`."""
    # Names and subject from the decoded header block: the email package shows 8-bit (RFC 6532)
    # headers as replacement characters.
    headers = read_headers(raw)
    display, author_addr = email.utils.parseaddr(str(headers.get("From") or ""))
    name = author_name(decode_header(display), info.author_name, author_addr, hidden=info.hidden)
    if info.hidden and not name:
        # Translators: how a list copy's sender ("a member via mentors"), a digest and a topic sent
        # by mail name an author who gave no name, where the group hides members' addresses.
        name = translations(language).gettext("a member")
    # Translators: a list copy's sender as mail programs show it: the author's name and the group.
    sender = translations(language).gettext("%(name)s via %(group)s") % {"name": name, "group": info.name}
    subject = decode_header(headers.get("Subject"))
    footer = render(templates, "footer.txt", language, group=info.name, author=name,
                    private_address=private_address(info, author_addr), hidden=info.hidden,
                    private_copy=info.private_copy, post_address=address_for(info.name, info.domain),
                    leave_address=address_for(info.name, info.domain, "leave"))
    try:
        if plain:  # the body is replaced whole, so only the header block needs parsing
            msg = BytesHeaderParser(policy=compat32).parsebytes(raw)
            _list_headers(msg, info, sender, subject)
            _make_plain(msg, plain_text(raw, info, templates, language), footer)
        else:
            # Parsing is inside: the email package recurses once per nesting level, and mail with
            # hundreds of attached messages inside one another raises RecursionError here.
            msg = email.message_from_bytes(raw, policy=compat32)
            _list_headers(msg, info, sender, subject)
            _leave_out_large(msg, raw, info, templates, language)
            if info.hidden:
                _leave_out_calendars(msg)
            _add_footer(msg, footer)
        copy = _split(_sendable(msg, info))
    except Exception as exc:  # noqa: BLE001 - broken MIME: send the original body untouched
        log.warning("could not add footer, sending body unchanged: %s", exc)
        copy = _body_unchanged(raw, info, sender, subject, templates, footer, language)
    if not info.relay:
        return copy
    slot = private_address(info, author_addr).encode()
    if slot not in copy.body:  # encoded out of sight (a part re-encoded for a long line): no offer
        return build_copy(raw, replace(info, relay=False), templates, plain, language)
    return replace(copy, slot=slot)


def _sendable(msg: EmailMessage, info: ListInfo) -> bytes:
    """The copy's bytes, with whatever would go out on a line over 998 bytes re-encoded or
    refolded (a long line decoded from quoted-printable, an 8-bit part, a long subject)."""
    data = flatten(msg)
    if not has_long_line(data):
        return data
    shorten(msg, info.message_id)
    return flatten(msg)


def _body_unchanged(raw: bytes, info: ListInfo, sender: str, subject: str, templates: Path,
                    footer: str, language: str) -> CopyTemplate:
    """The list headers over the body exactly as it came. Reads the header block only, so this
    works on any mail the full parse failed on. A body with a line too long to send is
    re-encoded whole when it is one part; a multipart cannot be without reading its parts, so
    its copy is the text-only one."""
    msg = BytesHeaderParser(policy=compat32).parsebytes(raw)
    _list_headers(msg, info, sender, subject)
    body = raw.replace(b"\r\n", b"\n").partition(b"\n\n")[2]
    if has_long_line(body):
        if msg.get_content_maintype() in ("multipart", "message"):
            _make_plain(msg, plain_text(raw, info, templates, language), footer)
        return _split(_sendable(msg, info))
    shorten(msg, info.message_id)  # the header block: the body's lines fit
    # Header by header, not through the generator: for a multipart it would write boundary lines
    # (or add a boundary parameter) for a body it does not have. Raw values keep 8-bit bytes.
    head = b"".join(WIRE.fold_binary(name, value) for name, value in msg.raw_items())
    return CopyTemplate(head=_crlf(head), body=b"\r\n" + _crlf(body))


def _crlf(data: bytes) -> bytes:
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def build_private(raw: bytes, *, sender: str, reply_address: str, to: str, footer: str, message_id: str,
                  received_at: Optional[datetime] = None) -> bytes:
    """A private mail passed on through the group (private.py): only the headers that describe
    the message travel, From is `sender` ("Ann via mentors") at `reply_address` (where an answer
    goes back through the group), To is the reader, and `footer` says what this mail is."""
    headers = read_headers(raw)
    subject = _one_line(decode_header(headers.get("Subject")))
    try:
        msg = email.message_from_bytes(raw, policy=compat32)
        _private_headers(msg, sender, reply_address, to, subject, message_id, received_at)
        _add_footer(msg, footer)
        data = flatten(msg)
        if has_long_line(data):
            shorten(msg, message_id)
            data = flatten(msg)
        return data
    except Exception as exc:  # noqa: BLE001 - broken MIME: the text alone, with the footer
        log.warning("private mail %s: sending its text only: %s", message_id, exc)
        msg = BytesHeaderParser(policy=compat32).parsebytes(raw)
        _private_headers(msg, sender, reply_address, to, subject, message_id, received_at)
        _make_plain(msg, extract_body(raw)[0], footer)
        return flatten(msg)


def _private_headers(msg: EmailMessage, sender: str, reply_address: str, to: str, subject: str,
                     message_id: str, received_at: Optional[datetime]) -> None:
    _one_line_headers(msg)
    _hide_addresses(msg, to)
    del msg["From"]
    msg["From"] = email.utils.formataddr((_one_line(sender), reply_address), charset="utf-8")
    del msg["Subject"]
    msg["Subject"] = header_value(subject)
    del msg["Message-ID"]
    msg["Message-ID"] = f"<{message_id}>"
    _date_if_missing(msg, received_at)


def _date_if_missing(msg: EmailMessage, arrived: Optional[datetime]) -> None:
    """RFC 5322 3.6 requires a Date: mail that came without one gets the time it arrived."""
    if not str(msg.get("Date") or "").strip() and arrived is not None:
        del msg["Date"]
        if arrived.tzinfo is None:  # SQLite gives stored times back without their zone: UTC
            arrived = arrived.replace(tzinfo=timezone.utc)
        msg["Date"] = email.utils.format_datetime(arrived)
