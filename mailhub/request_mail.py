"""Act on mail to a group's `-join`, `-leave` and `-request` addresses, and on one-word replies
(`mute`, `follow`, `unsubscribe`) to list copies. The sender gets one answer listing what was
done; every change is for the sender's own address."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from sqlalchemy import delete
from sqlmodel import Session, col, select

from mailhub.attachments import AttachedFile, Unreadable, file_at, read_ref, size_text
from mailhub.bounces import enable
from mailhub.commands import Command, argument, clean_text, parse_commands, read_verdict
from mailhub.config import Config
from mailhub.digest_jobs import member_zone
from mailhub.events.mail import events_command, get_event
from mailhub.fanout import Roster
from mailhub.i18n.languages import NAMES, SHIPPED, UnknownLanguage, read_language
from mailhub.membership import (FOR_THE_GROUP, NAME_LIMIT, admit, confirm, expired, find_token, leave_now, member_of,
                                renew_approval, request_join, request_leave, set_delivery)
from mailhub.models import PROFILE_FIELDS, TRUSTED, Group, Member, Message, Token, Topic, TopicPref, utcnow
from mailhub.moderation import decide_held, deciders, renew_notice
from mailhub.names import author_name, without_addresses
from mailhub.notices import answer, member_language
from mailhub.parse import Parsed
from mailhub.policy import explain
from mailhub.router import address_for, answers_digest
from mailhub.schedule import ScheduleError, read_zone
from mailhub.search import search_topics
from mailhub.thread import find_topic, live_topic

RECENT_TOPICS = 20
FOUND_TOPICS = 10
TOPIC_MAIL_MESSAGES = 100  # `get TOPIC` sends the newest ones when a topic is longer
PROFILE_LIMITS = {"name": NAME_LIMIT, "organisation": 100, "country": 60, "bio": 500}
# Settled by the welcome, goodbye, "waiting for approval" or fresh notice mail itself: no list of results.
SELF_ANSWERING = ("joined", "left", "await_approval", "renewed")


@dataclass(frozen=True)
class Result:
    line: str  # the command as written ("" for a token address)
    code: str  # what happened; templates/outcome.txt has the words for each
    data: dict[str, Any] = field(default_factory=dict)
    files: tuple[AttachedFile, ...] = ()  # sent with the answer


@dataclass
class Request:
    """One mail asking for something, and who asked."""

    session: Session
    config: Config
    group: Group
    message: Message
    mail: Parsed
    roster: Roster
    automatic: bool = False  # auto-generated (RFC 3834): may act, never answered

    @property
    def sender(self) -> str:
        return self.mail.from_addr

    @property
    def member(self) -> Optional[Member]:
        return member_of(self.session, self.group, self.sender)

    def key(self, what: str) -> str:
        return f"{what}:{self.message.id}"

    def topic_address(self, topic: Topic) -> str:
        return address_for(self.group.name, self.config.server.domain, token=topic.key)

    @property
    def hidden(self) -> bool:
        """The group hides members' addresses: answers name people, never give their address."""
        return self.group.addresses == "hidden"

    def language_of(self, member: Member) -> str:
        return member_language(self.config, self.group, member.language)

    def tell(self, results: list[Result], show_help: bool = False) -> None:
        answer(self.session, self.config, self.group, self.sender, self.key("results"), "results.txt",
               self.mail.language, in_reply_to=self.message.message_id, results=results,
               languages=[(code, NAMES[code]) for code in SHIPPED],
               show_help=show_help, files=[f for r in results for f in r.files])


# ---- the commands ------------------------------------------------------------------------------

def _join(req: Request, cmd: Command) -> Result:
    return Result(cmd.line, request_join(req.session, req.config, req.group, req.sender, req.mail.from_name,
                                         req.key("confirm"), req.message.message_id, req.mail.language))


def _leave(req: Request, cmd: Command) -> Result:
    return Result(cmd.line, request_leave(req.session, req.config, req.group, req.sender, req.key("confirm"),
                                          req.message.message_id))


def _confirm(req: Request, cmd: Command) -> Result:
    if not cmd.args:
        return Result(cmd.line, "bad_argument", {"usage": "confirm"})
    return settle(req, cmd.args[0], cmd.line)


_DELIVERY = {("each",): "each", ("nomail",): "none", ("digest", "daily"): "daily", ("digest", "weekly"): "weekly",
             ("digest", "off"): "each"}


def _delivery(req: Request, cmd: Command, member: Member) -> Result:
    delivery = _DELIVERY.get((cmd.name, argument(cmd.args[0])) if cmd.name == "digest" and cmd.args else (cmd.name,))
    if delivery is None:
        return Result(cmd.line, "bad_argument", {"usage": "digest"})
    set_delivery(req.session, member, delivery)
    return Result(cmd.line, "delivery_set", {"delivery": delivery})


def _plain(req: Request, cmd: Command, member: Member) -> Result:
    choice = argument(cmd.args[0]) if cmd.args else ""
    if choice not in ("on", "off"):
        return Result(cmd.line, "bad_argument", {"usage": "plain"})
    member.plain = choice == "on"
    req.session.add(member)
    return Result(cmd.line, "plain_set", {"plain": member.plain})


def _profile(req: Request, cmd: Command, member: Member) -> Result:
    def shown() -> dict[str, Any]:
        return {"profile": {f: getattr(member, f) for f in PROFILE_FIELDS}}
    if not cmd.args:
        return Result(cmd.line, "profile", shown())
    what, _, text = cmd.rest.partition(" ")
    what = {"organization": "organisation", "org": "organisation"}.get(what.lower(), argument(what))
    if what not in PROFILE_FIELDS:
        return Result(cmd.line, "bad_argument", {"usage": "profile"})
    setattr(member, what, clean_text(text, PROFILE_LIMITS[what]))
    req.session.add(member)
    return Result(cmd.line, "profile_set", shown())


def _timezone(req: Request, cmd: Command, member: Member) -> Result:
    if not cmd.args:
        return Result(cmd.line, "bad_argument", {"usage": "timezone"})
    try:
        member.timezone = read_zone(cmd.args[0]).key
    except ScheduleError:
        return Result(cmd.line, "unknown_zone", {"zone": cmd.args[0]})
    req.session.add(member)
    return Result(cmd.line, "timezone_set", {"zone": member.timezone})


def _language(req: Request, cmd: Command, member: Member) -> Result:
    """`language fr` (or `langue français`, …): the member's own language from now on, this
    answer included."""
    if not cmd.args:
        return Result(cmd.line, "language", {"language": req.language_of(member)})
    try:
        member.language = read_language(cmd.rest)
    except UnknownLanguage:
        return Result(cmd.line, "unknown_language", {"language": cmd.rest})
    req.session.add(member)
    return Result(cmd.line, "language_set", {"language": member.language})


def _who(req: Request, cmd: Command, member: Member) -> Result:
    """The member list. Where the group hides addresses, names and roles only (owners and
    moderators asking too: the CLI shows staff the addresses), named members first."""
    if member.role not in TRUSTED and req.group.who != "members":
        return Result(cmd.line, "not_allowed")
    members = req.session.exec(select(Member).where(Member.group_id == req.group.id).order_by(Member.email)).all()
    if req.hidden:
        rows = [{"email": "", "name": without_addresses(m.name), "role": m.role} for m in members]
        return Result(cmd.line, "who", {"members": sorted(rows, key=lambda r: (not r["name"], r["name"].lower()))})
    return Result(cmd.line, "who", {"members": [{"email": m.email, "name": m.name, "role": m.role}
                                               for m in members]})


def _topic_rows(req: Request, topics: list[Topic]) -> list[dict[str, Any]]:
    return [{"subject": t.subject, "key": t.key, "address": req.topic_address(t), "messages": t.message_count,
             "last": t.last_message_at} for t in topics]


def _topics(req: Request, cmd: Command, member: Member) -> Result:
    topics = req.session.exec(select(Topic).where(Topic.group_id == req.group.id, col(Topic.merged_into).is_(None))
                              .order_by(col(Topic.last_message_at).desc()).limit(RECENT_TOPICS)).all()
    return Result(cmd.line, "topics", {"topics": _topic_rows(req, list(topics))})


def _search(req: Request, cmd: Command, member: Member) -> Result:
    if not cmd.rest:
        return Result(cmd.line, "bad_argument", {"usage": "search"})
    found = search_topics(req.session, req.group.id, cmd.rest, FOUND_TOPICS)
    topics = {t.id: t for t in req.session.exec(select(Topic).where(col(Topic.id).in_([t for t, _ in found])))}
    return Result(cmd.line, "found", {"words": cmd.rest, "topics": _topic_rows(req, [topics[t] for t, _ in found])})


def _topic_named(req: Request, key: str) -> Optional[Topic]:
    topic = req.session.exec(select(Topic).where(Topic.key == key.strip("<>.,"),
                                                 Topic.group_id == req.group.id)).first()
    return req.session.get(Topic, live_topic(req.session, topic.id)) if topic else None


def _attachment_rows(message: Message) -> list[dict[str, Any]]:
    return [{**a, "size": size_text(a["size"]), "ref": f"{message.id}.{a['part']}" if "part" in a else ""}
            for a in message.attachments]


def _get_attachment(req: Request, cmd: Command) -> Result:
    """`get attachment 412.3`: the file, attached to the answer. Only from a post of this group
    that was published: a held or rejected post's files stay with the moderators."""
    ref = read_ref(cmd.args[1]) if len(cmd.args) == 2 else None
    if ref is None:
        return Result(cmd.line, "bad_argument", {"usage": "get_attachment"})
    message = req.session.get(Message, ref[0])
    try:
        found = file_at(message.raw, ref[1]) if message is not None and message.group_id == req.group.id \
            and message.channel == "post" and message.state == "posted" else None
    except Unreadable:
        return Result(cmd.line, "unreadable_attachment", {"ref": cmd.args[1]})
    if found is None:
        return Result(cmd.line, "no_such_attachment", {"ref": cmd.args[1]})
    return Result(cmd.line, "attachment", {"filename": found.filename, "size": size_text(len(found.data))},
                  files=(found,))


def _get(req: Request, cmd: Command, member: Member) -> Result:
    if cmd.args and argument(cmd.args[0]) in ("attachment", "file"):
        return _get_attachment(req, cmd)
    if cmd.args and argument(cmd.args[0]) == "event":
        return get_event(req, cmd, member)
    topic = _topic_named(req, cmd.args[0]) if cmd.args else None
    if topic is None:
        return Result(cmd.line, "no_such_topic")
    messages = req.session.exec(select(Message).where(Message.topic_id == topic.id, Message.state == "posted")
                                .order_by(col(Message.received_at).desc(), col(Message.id).desc())
                                .limit(TOPIC_MAIL_MESSAGES)).all()
    shown = [{"author": author_name(m.from_name, "", m.from_addr, req.hidden), "when": m.received_at,
              "text": m.new_text or m.body_text, "attachments": _attachment_rows(m)} for m in reversed(messages)]
    zone = read_zone(member_zone(req.config, req.group, member.timezone))  # the reader's, as digests show times
    return Result(cmd.line, "topic", {"topic": _topic_rows(req, [topic])[0], "messages": shown, "zone": zone,
                                      "left_out": max(topic.message_count - len(shown), 0)})


def set_topic_mode(req: Request, line: str, member: Member, topic: Optional[Topic], mode: str) -> Result:
    if topic is None:
        return Result(line, "no_such_topic")
    req.session.execute(delete(TopicPref).where(TopicPref.member_id == member.id, TopicPref.topic_id == topic.id))
    req.session.add(TopicPref(member_id=member.id, topic_id=topic.id, mode=mode))
    return Result(line, "muted" if mode == "mute" else "followed", {"topic": _topic_rows(req, [topic])[0]})


def mark_solved(req: Request, line: str, member: Member, topic: Optional[Topic]) -> Result:
    """The topic's question is answered: its starter, a moderator or an owner says so. Digests
    stop asking for help with it, and the statistics count it."""
    if topic is None:
        return Result(line, "no_such_topic")
    row = {"topic": _topic_rows(req, [topic])[0]}
    starter = req.session.exec(select(Message.from_addr).where(Message.topic_id == topic.id, Message.state == "posted")
                               .order_by(col(Message.posted_at), col(Message.id)).limit(1)).first()
    if member.role not in TRUSTED and starter != member.email:
        return Result(line, "solved_not_yours", row)
    if topic.solved_at is not None:
        return Result(line, "already_solved", row)
    topic.solved_at, topic.solved_by = utcnow(), member.email
    req.session.add(topic)
    return Result(line, "solved", row)


def _solved(req: Request, cmd: Command, member: Member) -> Result:
    if not cmd.args:
        return Result(cmd.line, "bad_argument", {"usage": "solved"})
    return mark_solved(req, cmd.line, member, _topic_named(req, cmd.args[0]))


def _mute_follow(req: Request, cmd: Command, member: Member) -> Result:
    topic = _topic_named(req, cmd.args[0]) if cmd.args else None
    return set_topic_mode(req, cmd.line, member, topic, cmd.name)


OPEN: dict[str, Callable[[Request, Command], Result]] = {
    "join": _join, "leave": _leave, "confirm": _confirm,
}
MEMBERS_ONLY: dict[str, Callable[[Request, Command, Member], Result]] = {
    "each": _delivery, "digest": _delivery, "nomail": _delivery, "plain": _plain, "profile": _profile,
    "who": _who, "topics": _topics, "get": _get, "search": _search, "mute": _mute_follow, "follow": _mute_follow,
    "timezone": _timezone, "language": _language, "solved": _solved, "events": events_command,
}


def run_command(req: Request, cmd: Command) -> Result:
    if not cmd.name:
        return Result(cmd.line, "unknown")
    if cmd.name == "help":
        return Result(cmd.line, "help")
    other = cmd.other_address
    if other is not None and other.lower() != req.sender:
        return Result(cmd.line, "own_address_only", {"address": req.sender})
    if cmd.name in OPEN:
        return OPEN[cmd.name](req, cmd)
    member = req.member
    if member is None:
        return Result(cmd.line, "not_member")
    return MEMBERS_ONLY[cmd.name](req, cmd, member)


# ---- tokens: confirmations, join approvals, moderators' verdicts -------------------------------

def _verdict_on(req: Request, token: Token, line: str) -> Result:
    """An owner's answer to a join approval, or a moderator's to a held post. Who may answer is
    checked first: nobody else learns whether the token is alive or what became of the post."""
    role = req.roster.role_of(req.sender)
    needed = ("owner",) if token.purpose == "approve" else TRUSTED
    postmaster_decides = token.purpose == "moderate" and req.sender in dict(deciders(req.session, req.config, req.group))
    if role not in needed and not postmaster_decides:
        return Result(line, "not_allowed")
    held = req.session.get(Message, token.message_pk) if token.purpose == "moderate" and token.message_pk else None
    if token.purpose == "moderate" and held is None:
        req.session.delete(token)
        return Result(line, "not_held")
    if held is not None and held.state != "held":
        return Result(line, "not_held", {"decided": held.reason, "why": explain(held.reason)})
    if expired(token):
        key = req.key(f"renewed:{token.id}")
        if held is not None:
            renew_notice(req.session, req.config, req.group, held, req.sender, key)
        else:
            renew_approval(req.session, req.config, req.group, token, req.sender, key)
        return Result(line, "renewed")
    verdict = read_verdict(req.mail.subject, req.mail.body_text)
    if verdict is None:
        return Result(line, "verdict_unclear", {"purpose": token.purpose})
    if held is not None:
        outcome = decide_held(req.session, req.config, held, verdict, req.sender)
        return Result(line, outcome, {"subject": held.subject, "author": held.from_addr, "reason": verdict.reason,
                                      "decided": held.reason})
    # Every owner's notice about this joiner is settled, renewed ones too: no second owner can
    # undo the first one's answer.
    req.session.execute(delete(Token).where(Token.group_id == req.group.id, Token.purpose == "approve",
                                            Token.email == token.email))
    if verdict.action == "approve":
        if member_of(req.session, req.group, token.email) is None:
            admit(req.session, req.config, req.group, token.email, token.name, req.key(f"welcome:{token.id}"),
                  token.language)
        return Result(line, "join_approved", {"email": token.email})
    answer(req.session, req.config, req.group, token.email, req.key(f"refused:{token.id}"), "join_refused.txt",
           token.language, reason=verdict.reason)
    return Result(line, "join_refused", {"email": token.email})


def settle(req: Request, text: str, line: str = "") -> Result:
    """Act on a token, from its address or a `confirm TOKEN` command: only in the group whose
    address it came to, only for the address or post it names (never the sender's, unless the
    same), and only until it expires."""
    token = find_token(req.session, req.group, text)
    if token is None:
        return Result(line, "token_unknown")
    if token.purpose in FOR_THE_GROUP:
        return _verdict_on(req, token, line)
    if expired(token):
        req.session.delete(token)
        return Result(line, "token_expired", {"purpose": token.purpose,
                                              "days": f"{req.config.limits.confirm_days:g}"})
    if token.purpose == "enable":
        req.session.delete(token)
        member = member_of(req.session, req.group, token.email)
        if member is None:
            return Result(line, "not_member")
        enable(req.session, member)
        return Result(line, "enabled")
    return Result(line, confirm(req.session, req.config, req.group, token, req.key(f"confirmed:{token.id}")))


# ---- entry points, by address ------------------------------------------------------------------

def on_join_address(req: Request) -> str:
    result = Result("join", request_join(req.session, req.config, req.group, req.sender, req.mail.from_name,
                                         req.key("confirm"), req.message.message_id, req.mail.language))
    if result.code != "join_confirm_sent":
        req.tell([result])
    return result.code


def on_leave_address(req: Request) -> str:
    """With a member token (the List-Unsubscribe address) the member it names leaves at once: only
    their own copies carry it. Without one, a confirmation goes to the address, as From can be
    forged; so too with a token that names nobody in this group (another group's, or one from
    before the member left and joined again, which gave them a new one)."""
    token = req.message.address_token
    if token:
        member = req.session.exec(select(Member).where(Member.token == token,
                                                       Member.group_id == req.group.id)).first()
        if member is not None:
            leave_now(req.session, req.config, req.group, member, req.key("goodbye"), tell=not req.automatic)
            return "left"
        if req.automatic:
            return "unknown member token: dropped"  # a mail program's own unsubscribe: nobody to answer
    result = Result("leave", request_leave(req.session, req.config, req.group, req.sender, req.key("confirm"),
                                           req.message.message_id))
    if result.code != "leave_confirm_sent":
        req.tell([result])
    return result.code


def on_request_address(req: Request) -> str:
    if req.message.address_token:
        result = settle(req, req.message.address_token)
        if result.code not in SELF_ANSWERING:
            req.tell([result])
        return result.code
    commands = parse_commands(req.mail.subject, req.mail.body_text, req.group.prefix)
    results = [run_command(req, cmd) for cmd in commands]
    if all(r.code == "unknown" for r in results) and answers_digest(req.mail, req.config.server.domain):
        # Someone answered a digest as a whole: say how to reach the topic they meant.
        results = [Result("", "digest_reply")]
    show_help = not results or any(r.code in ("help", "unknown") for r in results)
    req.tell(results, show_help=show_help)
    return ", ".join(f"{r.line}: {r.code}" for r in results) or "no commands: sent help"


def on_reply_word(req: Request, word: str) -> str:
    """`mute`, `follow` or `solved` on the topic replied to, or `unsubscribe` (confirmed by mail)."""
    member = req.member
    if member is None:
        result = Result(word, "not_member")
    elif word == "unsubscribe":
        result = Result(word, request_leave(req.session, req.config, req.group, req.sender, req.key("confirm"),
                                            req.message.message_id))
    else:
        topic_id = find_topic(req.session, req.group.id, req.group.prefix, req.mail, req.message.address_token,
                              req.message.received_at, req.config.threading.subject_window_days)
        topic = req.session.get(Topic, topic_id) if topic_id else None
        result = mark_solved(req, word, member, topic) if word == "solved" else \
            set_topic_mode(req, word, member, topic, word)
    if result.code != "leave_confirm_sent":
        req.tell([result])
    return f"{word}: {result.code}"
