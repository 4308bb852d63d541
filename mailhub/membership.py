"""Joining and leaving: confirmation tokens, admitting, removing, and the mails that go with them.
Every change is for the address that will read the mail about it, so a forged sender cannot
join or remove anyone else."""
from __future__ import annotations

import logging
import secrets
from datetime import timedelta
from typing import Optional

from sqlalchemy import delete, update
from sqlmodel import Session, select

from mailhub.commands import clean_text
from mailhub.config import Config
from mailhub.db import insert_ignoring_duplicates
from mailhub.models import DIGESTS, DigestMark, Group, Member, Outbox, Token, TopicPref, utcnow
from mailhub.notices import answer, notify
from mailhub.router import address_for

log = logging.getLogger(__name__)

NAME_LIMIT = 100  # a display name taken from the From header of a join request


def new_token() -> str:
    """Unguessable, and fits an address's +token (router._LOCAL)."""
    return secrets.token_urlsafe(16)


def new_member(group: Group, email: str, name: str = "", role: str = "member", delivery: str = "each",
               joined_by_mail: bool = False) -> Member:
    return Member(group_id=group.id, email=email, name=name, role=role, delivery=delivery,
                  token=new_token(), new_member=joined_by_mail)


def member_of(session: Session, group: Group, email: str) -> Optional[Member]:
    return session.exec(select(Member).where(Member.group_id == group.id, Member.email == email)).first()


def remove_member(session: Session, member: Member) -> None:
    """Remove a member; mail still queued for them is not sent, the record of what was is kept."""
    session.execute(delete(Outbox).where(Outbox.member_id == member.id, Outbox.state == "pending"))
    session.execute(update(Outbox).where(Outbox.member_id == member.id).values(member_id=None))
    session.execute(delete(TopicPref).where(TopicPref.member_id == member.id))
    session.execute(delete(DigestMark).where(DigestMark.member_id == member.id))
    session.delete(member)


def owners(session: Session, group: Group) -> list[Member]:
    return list(session.exec(select(Member).where(Member.group_id == group.id, Member.role == "owner")).all())


def set_delivery(session: Session, member: Member, delivery: str) -> None:
    """Change how the member gets mail. Starting a digest records now as the end of a digest
    period, so the first one covers what comes next, not what the member already got one by one."""
    if delivery in DIGESTS and member.delivery not in DIGESTS:
        now = utcnow()
        insert_ignoring_duplicates(session, DigestMark, [{
            "member_id": member.id, "group_id": member.group_id, "period": delivery, "starts_at": now,
            "ends_at": now, "issue_id": None, "created_at": now}], ["member_id", "ends_at"])
    member.delivery = delivery
    session.add(member)


def make_token(session: Session, config: Config, group: Group, purpose: str, email: str = "", name: str = "",
               message_pk: Optional[int] = None, expires: bool = True) -> Token:
    now = utcnow()
    token = Token(token=new_token(), group_id=group.id, purpose=purpose, email=email, name=name,
                  message_pk=message_pk, created_at=now,
                  expires_at=now + timedelta(days=config.limits.confirm_days) if expires else None)
    session.add(token)
    session.flush()
    return token


def token_address(config: Config, group: Group, token: Token) -> str:
    return address_for(group.name, config.server.domain, "request", token.token)


def find_token(session: Session, group: Group, text: str) -> Optional[Token]:
    return session.exec(select(Token).where(Token.token == text, Token.group_id == group.id)).first()


def expired(token: Token) -> bool:
    return token.expires_at is not None and token.expires_at <= utcnow()


def _pending(session: Session, group: Group, purpose: str, email: str) -> Optional[Token]:
    """A request still waiting for this address: asking again re-sends it rather than piling up tokens."""
    found = session.exec(select(Token).where(Token.group_id == group.id, Token.purpose == purpose,
                                             Token.email == email)).first()
    if found is not None and expired(found):
        session.delete(found)
        return None
    return found


def request_join(session: Session, config: Config, group: Group, email: str, name: str, key: str,
                 in_reply_to: str = "") -> str:
    """Start a join for `email`: a confirmation goes to that address. Returns the outcome code."""
    if group.join_policy == "closed":
        return "join_closed"
    if member_of(session, group, email) is not None:
        return "already_member"
    token = _pending(session, group, "approve", email)
    if token is not None:
        return "await_approval"
    token = _pending(session, group, "join", email) or make_token(session, config, group, "join", email, name)
    answer(session, config, group, email, key, "confirm_join.txt", in_reply_to=in_reply_to,
           reply_to=token_address(config, group, token), token=token.token)
    return "join_confirm_sent"


def request_leave(session: Session, config: Config, group: Group, email: str, key: str,
                  in_reply_to: str = "") -> str:
    if member_of(session, group, email) is None:
        return "not_member"
    token = _pending(session, group, "leave", email) or make_token(session, config, group, "leave", email)
    answer(session, config, group, email, key, "confirm_leave.txt", in_reply_to=in_reply_to,
           reply_to=token_address(config, group, token), token=token.token)
    return "leave_confirm_sent"


def confirm(session: Session, config: Config, group: Group, token: Token, key: str) -> str:
    """Settle a join or leave confirmation. The token is used up either way."""
    session.delete(token)
    if token.purpose == "leave":
        member = member_of(session, group, token.email)
        if member is None:
            return "not_member"
        leave_now(session, config, group, member, key)
        return "left"
    if member_of(session, group, token.email) is not None:
        return "already_member"
    if group.join_policy == "closed":
        return "join_closed"
    if group.join_policy == "approve":
        approval = make_token(session, config, group, "approve", token.email, token.name)
        group_owners = owners(session, group)
        if not group_owners:
            log.warning("%s asks to join %s, which needs an owner's approval but has no owners", token.email,
                        group.name)
        for owner in group_owners:
            notify(session, config, group, owner.email, f"approve:{approval.id}:{owner.id}", "approve_join.txt",
                   reply_to=token_address(config, group, approval), email=token.email, name=token.name)
        answer(session, config, group, token.email, key, "await_approval.txt")
        return "await_approval"
    admit(session, config, group, token.email, token.name, key)
    return "joined"


def admit(session: Session, config: Config, group: Group, email: str, name: str, key: str) -> Member:
    member = new_member(group, email, clean_text(name, NAME_LIMIT), joined_by_mail=True)
    session.add(member)
    session.flush()
    answer(session, config, group, email, key, "welcome.txt", member=member,
           unsubscribe_address=address_for(group.name, config.server.domain, "leave", member.token))
    return member


def leave_now(session: Session, config: Config, group: Group, member: Member, key: str, tell: bool = True) -> None:
    email = member.email
    remove_member(session, member)
    if tell:
        answer(session, config, group, email, key, "goodbye.txt")
