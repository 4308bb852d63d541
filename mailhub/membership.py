"""Joining and leaving: confirmation tokens, admitting, removing, and the mails that go with them.
Every change is for the address that will read the mail about it, so a forged sender cannot
join or remove anyone else."""
from __future__ import annotations

import logging
import secrets
from datetime import timedelta
from typing import Any, Optional

from sqlalchemy import delete, update
from sqlmodel import Session, select

from mailhub import links
from mailhub.commands import clean_text
from mailhub.config import Config, LimitsConfig
from mailhub.db import insert_ignoring_duplicates
from mailhub.models import DIGESTS, Departure, DigestMark, Group, Member, Outbox, Token, TopicPref, utcnow
from mailhub.notices import answer, member_language, notify, web_link
from mailhub.pairs import end_pairs_of
from mailhub.router import address_for

log = logging.getLogger(__name__)

NAME_LIMIT = 100  # a display name taken from the From header of a join request


# Tokens that wait for the group's owners or moderators; the others wait for the person the
# token is about, who asked a moment ago.
FOR_THE_GROUP = ("approve", "moderate")


def new_token() -> str:
    """Unguessable (128 random bits), and fits an address's +token (router._LOCAL)."""
    return secrets.token_urlsafe(16)


def lifetime(purpose: str, limits: LimitsConfig) -> timedelta:
    """How long a token of `purpose` can act. A join or leave confirmation is answered within
    minutes or never; owners and moderators answer when they find time, so theirs last longer."""
    return timedelta(days=limits.hold_days if purpose in FOR_THE_GROUP else limits.confirm_days)


def new_member(group: Group, email: str, name: str = "", role: str = "member", delivery: str = "each",
               joined_by_mail: bool = False) -> Member:
    return Member(group_id=group.id, email=email, name=name, role=role, delivery=delivery,
                  token=new_token(), new_member=joined_by_mail)


def member_of(session: Session, group: Group, email: str) -> Optional[Member]:
    return session.exec(select(Member).where(Member.group_id == group.id, Member.email == email)).first()


def remove_member(session: Session, member: Member, why: str = "left", config: Optional[Config] = None) -> None:
    """Remove a member; mail still queued for them is not sent, the record of what was is kept,
    and a Departure row says who was in the group until now (`why`: left, removed, bounces).
    Their open mentoring pairs end; with `config`, the other one of each pair is told."""
    end_pairs_of(session, config, member)
    session.add(Departure(group_id=member.group_id, email=member.email, role=member.role, country=member.country,
                          why=why, joined_at=member.created_at, left_at=utcnow()))
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
               message_pk: Optional[int] = None, language: Optional[str] = None) -> Token:
    now = utcnow()
    token = Token(token=new_token(), group_id=group.id, purpose=purpose, email=email, name=name,
                  message_pk=message_pk, created_at=now, expires_at=now + lifetime(purpose, config.limits),
                  language=language)
    session.add(token)
    session.flush()
    return token


def token_address(config: Config, group: Group, token: Token) -> str:
    return address_for(group.name, config.server.domain, "request", token.token)


def find_token(session: Session, group: Group, text: str) -> Optional[Token]:
    """Only the group of the address it came to: another group's token is unknown here."""
    return session.exec(select(Token).where(Token.token == text, Token.group_id == group.id)).first()


def expired(token: Token) -> bool:
    # A row from before tokens always expired has none: it counts as expired, never as forever.
    return token.expires_at is None or token.expires_at <= utcnow()


def _pending(session: Session, group: Group, purpose: str, email: str) -> Optional[Token]:
    """A request still waiting for this address: asking again re-sends it rather than piling up
    tokens. Expired ones are dropped, so the person can start again."""
    found = None
    for token in session.exec(select(Token).where(Token.group_id == group.id, Token.purpose == purpose,
                                                  Token.email == email)).all():
        if expired(token):
            session.delete(token)
        elif found is None:
            found = token
    return found


def request_join(session: Session, config: Config, group: Group, email: str, name: str, key: str,
                 in_reply_to: str = "", language: Optional[str] = None) -> str:
    """Start a join for `email`: a confirmation goes to that address, in `language` (the one
    their mail declared) when given. Returns the outcome code."""
    if group.join_policy == "closed":
        return "join_closed"
    if member_of(session, group, email) is not None:
        return "already_member"
    token = _pending(session, group, "approve", email)
    if token is not None:
        return "await_approval"
    token = _pending(session, group, "join", email) or make_token(session, config, group, "join", email,
                                                                   clean_text(name, NAME_LIMIT))
    token.language = language or token.language
    answer(session, config, group, email, key, "confirm_join.txt", token.language, in_reply_to=in_reply_to,
           reply_to=token_address(config, group, token), token=token.token,
           link=web_link(session, config, links.CONFIRM, token))
    return "join_confirm_sent"


def request_leave(session: Session, config: Config, group: Group, email: str, key: str,
                  in_reply_to: str = "") -> str:
    if member_of(session, group, email) is None:
        return "not_member"
    token = _pending(session, group, "leave", email) or make_token(session, config, group, "leave", email)
    answer(session, config, group, email, key, "confirm_leave.txt", in_reply_to=in_reply_to,
           reply_to=token_address(config, group, token), token=token.token,
           link=web_link(session, config, links.CONFIRM, token))
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
        approval = make_token(session, config, group, "approve", token.email, token.name, language=token.language)
        group_owners = owners(session, group)
        if not group_owners:
            log.warning("%s asks to join %s, which needs an owner's approval but has no owners", token.email,
                        group.name)
        for owner in group_owners:
            # The token's own random value, not its id: SQLite gives a deleted row's id to the next
            # token, and a key already queued would silently drop this notice.
            notify(session, config, group, owner.email, f"approve:{approval.token}:{owner.id}", "approve_join.txt",
                   **_approval(config, group, approval))
        answer(session, config, group, token.email, key, "await_approval.txt", token.language)
        return "await_approval"
    admit(session, config, group, token.email, token.name, key, token.language)
    return "joined"


def _approval(config: Config, group: Group, approval: Token, renewed: bool = False) -> dict[str, Any]:
    """What approve_join.txt needs."""
    return {"reply_to": token_address(config, group, approval), "email": approval.email, "name": approval.name,
            "renewed": renewed, "days": f"{config.limits.hold_days:g}"}


def renew_approval(session: Session, config: Config, group: Group, old: Token, owner: str, key: str) -> None:
    """An owner answered a join approval after it expired: that answer does nothing, and this owner
    (at their own address, whoever wrote) gets a fresh notice to answer instead."""
    approval = make_token(session, config, group, "approve", old.email, old.name, language=old.language)
    answer(session, config, group, owner, key, "approve_join.txt", **_approval(config, group, approval, renewed=True))


def admit(session: Session, config: Config, group: Group, email: str, name: str, key: str,
          language: Optional[str] = None) -> Member:
    """Make `email` a member and welcome them. `language`, the one their join mail declared,
    becomes their own setting when it is not what the group writes in anyway (so a later change
    of the group's language still reaches everyone else)."""
    member = new_member(group, email, clean_text(name, NAME_LIMIT), joined_by_mail=True)
    if language and language != member_language(config, group):
        member.language = language
    session.add(member)
    session.flush()
    answer(session, config, group, email, key, "welcome.txt", member=member,
           unsubscribe_address=address_for(group.name, config.server.domain, "leave", member.token))
    return member


def leave_now(session: Session, config: Config, group: Group, member: Member, key: str, tell: bool = True) -> None:
    email = member.email
    remove_member(session, member, config=config)
    if tell:
        answer(session, config, group, email, key, "goodbye.txt")
