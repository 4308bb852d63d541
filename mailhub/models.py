"""The tables. The database is the queue: raw mail, outbound copies and their states live here."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Optional

from sqlalchemy import JSON, Column, Index, LargeBinary, UniqueConstraint
from sqlmodel import Field, SQLModel

POLICIES = ("open", "members", "moderated")
ROLES = ("member", "mentor", "moderator", "owner")
TRUSTED = ("moderator", "owner")  # exempt from moderation, may decide held posts
HELPERS = ("mentor", "moderator", "owner")  # their digests lead with unanswered topics
DELIVERIES = ("each", "daily", "weekly", "none")
DIGESTS = ("daily", "weekly")
JOIN_POLICIES = ("confirm", "approve", "closed")
ADDRESSES = ("hidden", "shown")
WHO_POLICIES = ("moderators", "members")  # who may ask for the member list by mail
PROFILE_FIELDS = ("name", "organisation", "country", "bio")


def utcnow() -> datetime:
    """Every stored time is timezone-aware UTC; members' local times are derived from it."""
    return datetime.now(timezone.utc)


class Group(SQLModel, table=True):
    __tablename__ = "groups"
    id: Optional[int] = Field(default=None, primary_key=True)
    name: str = Field(index=True, unique=True)
    title: str = ""
    description: str = ""
    policy: str = "members"
    subject_prefix: Optional[str] = None  # None means "[name]"
    include_author: bool = False
    from_rewrite: bool = True
    join_policy: str = "confirm"
    rate_limit: int = 0  # posts per sender per hour before the rest are held; 0 means no limit
    new_member_moderation: bool = False  # hold a new member's posts until one is approved
    who: str = "moderators"
    # Digest times for this group; None means the [digest] setting of config.toml.
    digest_daily: Optional[str] = None
    digest_weekly: Optional[str] = None
    timezone: Optional[str] = None
    language: Optional[str] = None  # what members read, unless they chose; None means config.toml's
    # hidden: no member's address reaches another member (copies, digests, answers); groups made
    # before 0007 keep "shown"
    addresses: str = "hidden"
    # Safeguarding: where a copy of every private mail relayed in this group goes ("" for none);
    # every member's footer says so.
    private_copy: str = ""
    digest_quiet: bool = False  # send an "all quiet" digest when nothing was posted
    # Attachments larger than this are named in copies, not sent; `get attachment` fetches one.
    max_attachment_size: int = 1024 * 1024
    created_at: datetime = Field(default_factory=utcnow)

    @property
    def prefix(self) -> str:
        return f"[{self.name}]" if self.subject_prefix is None else self.subject_prefix


class Member(SQLModel, table=True):
    __tablename__ = "members"
    __table_args__ = (UniqueConstraint("group_id", "email"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    group_id: int = Field(foreign_key="groups.id", index=True)
    email: str
    name: str = ""
    role: str = "member"
    delivery: str = "each"
    token: str = Field(unique=True)  # names the member in VERP and unsubscribe addresses
    plain: bool = False  # text-only copies: no HTML, attachments named instead of sent
    moderated: bool = False  # every post held, as set by an owner
    new_member: bool = False  # joined by mail and has not had a post published yet
    organisation: str = ""
    country: str = ""
    bio: str = ""
    timezone: Optional[str] = None  # the member's own, for digest times; None means the group's
    language: Optional[str] = None  # the member's own; None means the group's
    # Bounces (see bounces.py): the score, when a bounce last counted, since when temporary ones
    # come, and while delivery is stopped for them, the warnings sent.
    bounce_score: float = 0.0
    bounce_counted_at: Optional[datetime] = None
    temporary_since: Optional[datetime] = None
    disabled_at: Optional[datetime] = None
    warnings: int = 0
    warned_at: Optional[datetime] = None
    created_at: datetime = Field(default_factory=utcnow)


class Departure(SQLModel, table=True):
    """A member who left (or was removed): members are deleted, this row keeps who was in the
    group when, for statistics (`members` at a date, `joined`, `left`)."""

    __tablename__ = "departures"
    id: Optional[int] = Field(default=None, primary_key=True)
    group_id: int = Field(foreign_key="groups.id", index=True)
    email: str
    role: str
    country: str = ""
    why: str  # left (by mail or link), removed (by an admin), bounces
    joined_at: datetime
    left_at: datetime


class Topic(SQLModel, table=True):
    __tablename__ = "topics"
    __table_args__ = (Index("ix_topics_group_subject", "group_id", "subject_key"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    group_id: int = Field(foreign_key="groups.id", index=True)
    key: str = Field(unique=True)  # the +key of the topic's reply address
    subject: str = ""
    subject_key: str = ""  # normalized subject, for the subject fallback
    created_at: datetime = Field(default_factory=utcnow)
    last_message_at: datetime = Field(default_factory=utcnow)
    message_count: int = 0
    # Set when a late parent showed that this topic belongs to another one; replies to this
    # topic's address then land in that one.
    merged_into: Optional[int] = Field(default=None, foreign_key="topics.id")
    # Marked solved by its starter, a moderator or an owner (`solved`): left out of "Unanswered".
    solved_at: Optional[datetime] = None
    solved_by: Optional[str] = None


class Message(SQLModel, table=True):
    """One received mail for one group address. `raw` is exactly what arrived."""

    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("group_id", "channel", "message_id"),
        Index("ix_messages_state", "state", "lease_until"),
        Index("ix_messages_topic", "topic_id", "id"),
        Index("ix_messages_conversation", "group_id", "thread_index"),
        Index("ix_messages_sender", "group_id", "from_addr", "received_at"),
        Index("ix_messages_posted", "group_id", "posted_at"),
    )
    id: Optional[int] = Field(default=None, primary_key=True)
    # None for mail to the site's postmaster@ or abuse@, which no group holds
    group_id: Optional[int] = Field(default=None, foreign_key="groups.id", index=True)
    channel: str  # post, owner, join, leave, request, bounces (see router.KINDS), or postmaster
    address_token: Optional[str] = None  # topic key or member token from the address
    rcpt: str
    envelope_from: str = ""
    message_id: str
    raw: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    received_at: datetime = Field(default_factory=utcnow)
    # new -> processing outcome: posted, held, rejected, discarded, done, failed
    state: str = "new"
    reason: str = ""
    attempts: int = 0
    lease_until: Optional[datetime] = None
    # Derived from raw by processing; can be re-derived at any time.
    from_addr: str = ""
    from_name: str = ""
    subject: str = ""
    body_text: str = ""  # the whole readable text
    new_text: str = ""  # what the author wrote: body_text without quotes and signature
    thread_index: str = ""  # Outlook conversation id (see parse.conversation_id)
    # [{"filename", "content_type", "size"}, …]: named in listings, never inlined into text
    attachments: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False, default=list))
    topic_id: Optional[int] = Field(default=None, foreign_key="topics.id")
    sent_at: Optional[datetime] = None  # the Date header, when it parses
    posted_at: Optional[datetime] = None  # when it was published (a held post: when approved)


class MessageRef(SQLModel, table=True):
    """A Message-ID that a threaded message names in In-Reply-To/References, so that a parent
    arriving late can find the replies that came before it."""

    __tablename__ = "message_refs"
    __table_args__ = (Index("ix_message_refs_ref", "group_id", "ref_id"),
                      UniqueConstraint("message_pk", "ref_id"))
    id: Optional[int] = Field(default=None, primary_key=True)
    group_id: int = Field(foreign_key="groups.id")
    message_pk: int = Field(foreign_key="messages.id")
    ref_id: str


class Outbox(SQLModel, table=True):
    """One mail to one recipient. `key` makes every queued send idempotent."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "state", "next_attempt_at"),
                      Index("ix_outbox_recipient", "recipient", "created_at"))
    id: Optional[int] = Field(default=None, primary_key=True)
    key: str = Field(unique=True)
    # copy (list copy of a message), forward (raw message as is), notice (payload), digest
    kind: str
    message_pk: Optional[int] = Field(default=None, foreign_key="messages.id", index=True)
    digest_pk: Optional[int] = Field(default=None, foreign_key="digest_issues.id")
    member_id: Optional[int] = Field(default=None, foreign_key="members.id")
    group_id: Optional[int] = Field(default=None, foreign_key="groups.id")  # None: postmaster mail
    recipient: str
    # A notice as sent: wire format, CRLF line ends (smtplib sends bytes unchanged).
    payload: Optional[bytes] = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    state: str = "pending"  # pending, sent, failed
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utcnow)
    lease_until: Optional[datetime] = None
    last_error: str = ""
    created_at: datetime = Field(default_factory=utcnow)
    sent_at: Optional[datetime] = None


class Token(SQLModel, table=True):
    """A pending request that a person settles by replying to (or mailing) its token address
    `group-request+<token>@domain`: confirming a join or leave, an owner approving a join, a
    moderator deciding a held post. Used once, then deleted."""

    __tablename__ = "tokens"
    id: Optional[int] = Field(default=None, primary_key=True)
    token: str = Field(unique=True)
    group_id: int = Field(foreign_key="groups.id", index=True)
    # join, leave, approve (an owner admits a confirmed joiner), moderate, enable (a member whose
    # delivery stopped for bounces starts it again)
    purpose: str
    email: str = ""  # whom it is about
    name: str = ""
    message_pk: Optional[int] = Field(default=None, foreign_key="messages.id", index=True)
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: Optional[datetime] = None
    language: Optional[str] = None  # a joiner's, from their mail, for their membership when they confirm


class TopicPref(SQLModel, table=True):
    """A member's choice for one topic: `mute` stops its copies, `follow` sends them even to a
    member who reads by digest."""

    __tablename__ = "topic_prefs"
    __table_args__ = (UniqueConstraint("member_id", "topic_id"), Index("ix_topic_prefs_topic", "topic_id"))
    id: Optional[int] = Field(default=None, primary_key=True)
    member_id: int = Field(foreign_key="members.id")
    topic_id: int = Field(foreign_key="topics.id")
    mode: str  # mute or follow


class DigestIssue(SQLModel, table=True):
    """The shared body of one digest: a group's activity in one period, rendered once for every
    reader with the same period and time zone. Each reader's copy is assembled from its parts at
    send time (their greeting and leave address added, their muted topics left out)."""

    __tablename__ = "digest_issues"
    id: Optional[int] = Field(default=None, primary_key=True)
    group_id: int = Field(foreign_key="groups.id", index=True)
    period: str  # daily or weekly
    starts_at: datetime
    ends_at: datetime
    zone: str  # the time zone its times are shown in
    subject: str
    # {"summary": …, "sections": {name: [[topic_id or null, text, html], …]}}; see digest.py
    parts: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)


class DigestMark(SQLModel, table=True):
    """One digest period of one member, recorded with its copy queued (or found quiet). The
    unique key is what makes a restart, a double trigger or a second process harmless."""

    __tablename__ = "digest_marks"
    __table_args__ = (UniqueConstraint("member_id", "ends_at"), Index("ix_digest_marks_group", "group_id", "ends_at"))
    id: Optional[int] = Field(default=None, primary_key=True)
    member_id: int = Field(foreign_key="members.id")
    group_id: int = Field(foreign_key="groups.id")
    period: str
    starts_at: datetime
    ends_at: datetime
    issue_id: Optional[int] = Field(default=None, foreign_key="digest_issues.id")  # None: quiet, nothing sent
    created_at: datetime = Field(default_factory=utcnow)


class SiteSetting(SQLModel, table=True):
    """A value of the installation's own, made once and shared by every process: `secret`, the
    key of the HMAC that signs web links (links.py)."""

    __tablename__ = "site_settings"
    name: str = Field(primary_key=True)
    value: str


class Pair(SQLModel, table=True):
    """A mentor and a mentee with a private channel `group-pair-KEY@`: each writes there and the
    other gets it, neither sees the other's address, the rest of the group sees nothing. Members
    by address, not by row: a pair ended because one left stays in the record."""

    __tablename__ = "pairs"
    id: Optional[int] = Field(default=None, primary_key=True)
    group_id: int = Field(foreign_key="groups.id", index=True)
    key: str = Field(unique=True)
    mentor: str
    mentee: str
    started_at: datetime = Field(default_factory=utcnow)
    ended_at: Optional[datetime] = None


class Block(SQLModel, table=True):
    """`blocker` takes no more private mail from `blocked` in this group (the `block` reply)."""

    __tablename__ = "blocks"
    __table_args__ = (UniqueConstraint("group_id", "blocker", "blocked"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    group_id: int = Field(foreign_key="groups.id")
    blocker: str
    blocked: str
    created_at: datetime = Field(default_factory=utcnow)


class RelayLog(SQLModel, table=True):
    """One private mail passed on, through a relay address (kind "private") or a pair's channel
    ("pair"): who wrote to whom, when and how big, never what. Unique per message and recipient
    so that processing the same mail again logs it once."""

    __tablename__ = "relay_log"
    __table_args__ = (UniqueConstraint("message_pk", "recipient"),
                      Index("ix_relay_log_sender", "group_id", "sender", "at"),
                      Index("ix_relay_log_pair", "pair_id", "at"))
    id: Optional[int] = Field(default=None, primary_key=True)
    group_id: int = Field(foreign_key="groups.id")
    kind: str  # private or pair
    pair_id: Optional[int] = Field(default=None, foreign_key="pairs.id")
    message_pk: Optional[int] = None
    sender: str
    recipient: str
    size: int
    at: datetime = Field(default_factory=utcnow)


class Event(SQLModel, table=True):
    """An event: a topic whose post carried an iCalendar invitation (mailhub/events). Unique by its
    UID in the group; an update (higher SEQUENCE) or a cancel changes this row, never makes another."""

    __tablename__ = "events"
    __table_args__ = (UniqueConstraint("group_id", "uid"), Index("ix_events_starts", "group_id", "starts_at"))
    id: Optional[int] = Field(default=None, primary_key=True)
    group_id: int = Field(foreign_key="groups.id")
    topic_id: Optional[int] = Field(default=None, foreign_key="topics.id", index=True)
    message_pk: Optional[int] = Field(default=None, foreign_key="messages.id")  # its latest invitation
    uid: str
    sequence: int = 0
    title: str = ""
    starts_at: datetime  # UTC; the first occurrence of a recurring event
    ends_at: datetime
    zone: str = "UTC"  # the IANA time zone it was written in (Outlook's Windows names mapped)
    all_day: bool = False
    location: str = ""
    description: str = ""
    organizer: str = ""  # who sent it (the address), or the group for `mailhub event create`
    rrule: str = ""  # RFC 5545 RRULE value, "" for a single event
    status: str = "confirmed"  # confirmed or cancelled
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class Rsvp(SQLModel, table=True):
    """A member's answer to an event: one row per event and address, changed when they answer again."""

    __tablename__ = "rsvps"
    __table_args__ = (UniqueConstraint("event_id", "email"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    event_id: int = Field(foreign_key="events.id")
    email: str
    status: str  # accepted, declined or tentative
    answered_at: datetime = Field(default_factory=utcnow)
