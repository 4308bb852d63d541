"""Mail that mailhub writes to a person, from a jinja2 template: first line `Subject: …`, then the body."""
from __future__ import annotations

import email.utils
from email.message import EmailMessage
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2

from mailhub.router import address_for


@lru_cache(maxsize=8)
def environment(folder: Path) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(folder)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )


def render(folder: Path, name: str, **context: Any) -> str:
    return environment(folder).get_template(name).render(**context)


def render_notice(folder: Path, name: str, *, group: str, domain: str, to: str,
                  in_reply_to: str = "", **context: Any) -> bytes:
    text = render(folder, name, group=group, domain=domain,
                  owner_address=address_for(group, domain, "owner"), **context)
    first, _, body = text.partition("\n")
    if not first.startswith("Subject:"):
        raise ValueError(f"template {name} must start with a 'Subject:' line")
    msg = EmailMessage()
    msg["From"] = email.utils.formataddr((f"{group} list", address_for(group, domain, "owner")))
    msg["To"] = to
    msg["Subject"] = " ".join(first[len("Subject:"):].split())
    msg["Date"] = email.utils.formatdate(localtime=False)
    msg["Message-ID"] = email.utils.make_msgid(domain=domain)
    if in_reply_to:
        msg["In-Reply-To"] = f"<{in_reply_to}>"
    # Our own notices must not start auto-reply storms (RFC 3834).
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Auto-Response-Suppress"] = "All"
    msg.set_content(body.lstrip("\n"), charset="utf-8")
    return msg.as_bytes()
