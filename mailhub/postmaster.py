"""Mail for the people who run the site: postmaster@ and abuse@ (which RFC 5321 and RFC 2142
require a mail domain to take), and a group's -owner@ mail when the group has no owner. It goes
to `server.postmaster`, or, when that is not set, to every group's owners."""
from __future__ import annotations

from typing import NamedTuple, Optional

from sqlmodel import Session, select

from mailhub.config import Config
from mailhub.fanout import enqueue
from mailhub.models import Member, Message


class Recipient(NamedTuple):
    email: str
    member_id: Optional[int]  # the owner membership a forward counts against (bounces); None: server.postmaster
    group_id: Optional[int]


def site_recipients(session: Session, config: Config) -> list[Recipient]:
    """Who reads the site's own mail: `server.postmaster`, else each owner once (the membership
    of the group they own that was made first)."""
    if config.server.postmaster:
        return [Recipient(config.server.postmaster, None, None)]
    found: dict[str, Recipient] = {}
    for member_id, email, group_id in session.exec(select(Member.id, Member.email, Member.group_id)
                                                   .where(Member.role == "owner").order_by(Member.id)):
        found.setdefault(email, Recipient(email, member_id, group_id))
    return list(found.values())


def forward(session: Session, config: Config, message: Message) -> str:
    """Queue the mail, as it came, to the site's readers; returns what was done, for `reason`."""
    readers = site_recipients(session, config)
    enqueue(session, ({"key": f"forward:{message.id}:{r.member_id or 'postmaster'}", "kind": "forward",
                       "message_pk": message.id, "member_id": r.member_id, "group_id": r.group_id,
                       "recipient": r.email} for r in readers))
    if not readers:
        return "no postmaster: set server.postmaster, or give a group an owner"
    if config.server.postmaster:
        return "forwarded to server.postmaster"
    return f"forwarded to {len(readers)} group owner(s) (server.postmaster is not set)"
