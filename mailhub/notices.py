"""Mail that mailhub writes to a person, from a jinja2 template (first line `Subject: …`, then
the body), queued in the outbox like any copy. Answers to a person's own mail are capped per
address per day, so a forged sender cannot turn the list into a mail bomb."""
from __future__ import annotations

import email.policy
import email.utils
import logging
from datetime import timedelta
from email.message import EmailMessage
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Sequence

import jinja2
from sqlalchemy import func
from sqlmodel import Session, col, select

from mailhub import links
from mailhub.config import Config
from mailhub.fanout import queue_notice
from mailhub.models import Group, Outbox, Token, utcnow
from mailhub.router import KINDS, address_for
from mailhub.wire import short_lines

if TYPE_CHECKING:
    from mailhub.attachments import AttachedFile

log = logging.getLogger(__name__)

ANSWER = "answer:"  # outbox key prefix of automatic answers, the ones the daily cap counts


@lru_cache(maxsize=8)
def environment(folder: Path) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(folder)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        autoescape=False,
    )


def render(folder: Path, template: str, **context: Any) -> str:
    return environment(folder).get_template(template).render(**context)


def group_addresses(group: str, domain: str) -> dict[str, str]:
    """`post_address`, `join_address`, … for templates to name."""
    return {f"{kind}_address": address_for(group, domain, kind) for kind in ("post", *KINDS)}


def render_notice(folder: Path, template: str, *, group: str, domain: str, to: str,
                  in_reply_to: str = "", reply_to: Optional[str] = None, files: Sequence[AttachedFile] = (),
                  **context: Any) -> bytes:
    addresses = group_addresses(group, domain)
    reply_to = reply_to or addresses["request_address"]
    text = render(folder, template, group=group, domain=domain, to=to, reply_to=reply_to, **{**addresses, **context})
    first, _, body = text.partition("\n")
    if not first.startswith("Subject:"):
        raise ValueError(f"template {template} must start with a 'Subject:' line")
    msg = EmailMessage()
    msg["From"] = email.utils.formataddr((f"{group} list", address_for(group, domain, "request")))
    msg["To"] = to
    msg["Subject"] = " ".join(first[len("Subject:"):].split())
    msg["Date"] = email.utils.formatdate(localtime=False)
    msg["Message-ID"] = email.utils.make_msgid(domain=domain)
    if in_reply_to:
        msg["In-Reply-To"] = f"<{in_reply_to}>"
    # A reply goes where it can be acted on: the request address, or a token address.
    msg["Reply-To"] = reply_to
    # Our own notices must not start auto-reply storms (RFC 3834).
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Auto-Response-Suppress"] = "All"
    msg.set_content(body.lstrip("\n"), charset="utf-8")
    for f in files:
        _attach(msg, f)
    # SMTP lines end in CRLF, and smtplib sends bytes as they are: a bare-LF notice would reach
    # the relay as one overlong line. The email package keeps the text's lines short; a mail
    # attached as it came (`get attachment`) may still have long ones.
    return short_lines(msg.as_bytes(policy=msg.policy.clone(linesep="\r\n")), f"notice {template}")


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
           **context: Any) -> None:
    """Queue one mail from `template` to `to`. `key` makes queuing it twice a no-op."""
    payload = render_notice(config.templates, template, group=group.name, domain=config.server.domain,
                            to=to, title=group.title, **context)
    queue_notice(session, group.id, key, to, payload)


def answer(session: Session, config: Config, group: Group, to: str, key: str, template: str,
           **context: Any) -> bool:
    """Like `notify`, for mail that answers mail from (or naming) `to`; False when `to` already had
    `limits.replies_per_day` answers in the last day, and this one is dropped."""
    since = utcnow() - timedelta(days=1)
    count = session.exec(select(func.count()).select_from(Outbox).where(
        Outbox.recipient == to, Outbox.created_at >= since, col(Outbox.key).startswith(ANSWER))).one()
    if count >= config.limits.replies_per_day:
        log.warning("not answering %s in %s (%s): %d answers in the last day already",
                    to, group.name, template, count)
        return False
    notify(session, config, group, to, ANSWER + key, template, **context)
    return True
