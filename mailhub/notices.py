"""Mail that mailhub writes to a person, from a jinja2 template (first line `Subject: …`, then
the body), queued in the outbox like any copy. Answers to a person's own mail are capped per
address per day, so a forged sender cannot turn the list into a mail bomb."""
from __future__ import annotations

import email.policy
import email.utils
import logging
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Sequence

from sqlalchemy import func
from sqlmodel import Session, col, select

from mailhub import links
from mailhub.config import Config
from mailhub.fanout import queue_notice
from mailhub.i18n import catalogs
from mailhub.i18n.languages import DEFAULT, choose
from mailhub.models import Group, Member, Outbox, Token, utcnow
from mailhub.router import KINDS, address_for
from mailhub.wire import short_lines

if TYPE_CHECKING:
    from mailhub.attachments import AttachedFile

log = logging.getLogger(__name__)

ANSWER = "answer:"  # outbox key prefix of automatic answers, the ones the daily cap counts


def render(folder: Path, template: str, language: str = DEFAULT, **context: Any) -> str:
    """`template` in `language` (mailhub.i18n.catalogs.environment says what templates can use)."""
    return catalogs.environment(folder, language).get_template(template).render(**context)


def member_language(config: Config, group: Group, own: Optional[str] = None) -> str:
    """A member's own language (`own`), else the group's, else config.toml's, else English; with
    no `own`, the language the group writes in."""
    return choose(own, None, group.language, config.server.language)


def reader_language(session: Session, config: Config, group: Optional[Group], to: str,
                    declared: Optional[str] = None) -> str:
    """The language of mail to `to` about `group`: their own setting as a member, else (for
    someone who is not a member) the one their mail declared, else the group's, else the site's."""
    row = session.exec(select(Member.id, Member.language).where(Member.group_id == group.id, Member.email == to)
                       ).first() if group is not None and group.id is not None else None
    return choose(row[1] if row else None, None if row else declared, group.language if group else None,
                  config.server.language)


def group_addresses(group: str, domain: str) -> dict[str, str]:
    """`post_address`, `join_address`, … for templates to name."""
    return {f"{kind}_address": address_for(group, domain, kind) for kind in ("post", *KINDS)}


def render_notice(folder: Path, template: str, *, group: str, domain: str, to: str,
                  in_reply_to: str = "", reply_to: Optional[str] = None, files: Sequence[AttachedFile] = (),
                  language: str = DEFAULT, **context: Any) -> bytes:
    addresses = group_addresses(group, domain)
    reply_to = reply_to or addresses["request_address"]
    text = render(folder, template, language, group=group, domain=domain, to=to, reply_to=reply_to,
                  **{**addresses, **context})
    first, _, body = text.partition("\n")
    if not first.startswith("Subject:"):
        raise ValueError(f"template {template} must start with a 'Subject:' line")
    msg = EmailMessage()
    # A reply goes where it can be acted on: the request address, or a token address.
    notice_headers(msg, group=group, domain=domain, to=to, subject=first[len("Subject:"):], language=language,
                   reply_to=reply_to, in_reply_to=in_reply_to)
    msg.set_content(body.lstrip("\n"), charset="utf-8")
    msg["Content-Language"] = language  # after set_content, which clears every Content-* header
    for f in files:
        _attach(msg, f)
    return wire_bytes(msg, f"notice {template}")


def notice_headers(msg: EmailMessage, *, group: str, domain: str, to: str, subject: str, language: str,
                   reply_to: str, in_reply_to: str = "") -> None:
    """The headers of every mail mailhub writes to a person: From the group's list (named in the
    reader's language), To, Subject (on one line), Date, Message-ID, In-Reply-To, Reply-To, and
    the marks of an automatic mail. Content-Language goes on after the content is set."""
    sender = catalogs.translations(language).gettext("%(group)s list") % {"group": group}
    msg["From"] = email.utils.formataddr((sender, address_for(group, domain, "request")))
    msg["To"] = to
    msg["Subject"] = " ".join(subject.split())
    msg["Date"] = email.utils.formatdate(localtime=False)
    msg["Message-ID"] = email.utils.make_msgid(domain=domain)
    if in_reply_to:
        msg["In-Reply-To"] = f"<{in_reply_to}>"
    msg["Reply-To"] = reply_to
    # Our own notices must not start auto-reply storms (RFC 3834).
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Auto-Response-Suppress"] = "All"


def wire_bytes(msg: EmailMessage, label: str) -> bytes:
    """`msg` as it goes to the relay. SMTP lines end in CRLF, and smtplib sends bytes as they are:
    a bare-LF mail would reach the relay as one overlong line. The email package keeps the text's
    lines short; a mail attached as it came (`get attachment`) may still have long ones."""
    return short_lines(msg.as_bytes(policy=msg.policy.clone(linesep="\r\n")), label)


def _attach(msg: EmailMessage, f: AttachedFile) -> None:
    maintype, _, subtype = f.content_type.partition("/")
    if maintype == "message":  # RFC 2046 forbids encoding a message/rfc822 part: attach it as a message
        msg.add_attachment(email.message_from_bytes(f.data, policy=email.policy.default))
        return
    if maintype == "multipart" or not subtype:  # never a part that claims to hold other parts
        maintype, subtype = "application", "octet-stream"
    msg.add_attachment(f.data, maintype=maintype, subtype=subtype, filename=f.filename or "attachment")


def web_link(session: Session, config: Config, kind: str, token: Token) -> Optional[str]:
    """The link that settles a pending Token (links.CONFIRM for a join or leave, links.MODERATE
    for a held post) without a reply, for a notice's `link`; None while [web] is off."""
    if not config.web.enabled:
        return None
    return links.url(config, links.site_secret(session), kind, token.id, token.token)


def notify(session: Session, config: Config, group: Group, to: str, key: str, template: str,
           declared: Optional[str] = None, **context: Any) -> None:
    """Queue one mail from `template` to `to`, in their language (`declared`: the one their own
    mail declared, for someone who is not a member). `key` makes queuing it twice a no-op."""
    payload = render_notice(config.templates, template, group=group.name, domain=config.server.domain,
                            to=to, title=group.title,
                            language=reader_language(session, config, group, to, declared), **context)
    queue_notice(session, group.id, key, to, payload)


def answer(session: Session, config: Config, group: Group, to: str, key: str, template: str,
           declared: Optional[str] = None, **context: Any) -> bool:
    """Like `notify`, for mail that answers mail from (or naming) `to`; False when `to` already had
    `limits.replies_per_day` answers in the last day, and this one is dropped."""
    since = utcnow() - timedelta(days=1)
    count = session.exec(select(func.count()).select_from(Outbox).where(
        Outbox.recipient == to, Outbox.created_at >= since, col(Outbox.key).startswith(ANSWER))).one()
    if count >= config.limits.replies_per_day:
        log.warning("not answering %s in %s (%s): %d answers in the last day already",
                    to, group.name, template, count)
        return False
    notify(session, config, group, to, ANSWER + key, template, declared, **context)
    return True
