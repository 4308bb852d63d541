"""Who may post: a list of small rules, first decision wins. Pure functions, no I/O."""
from __future__ import annotations

import re
import string
from dataclasses import dataclass
from typing import Callable, Optional

from mailhub.models import TRUSTED
from mailhub.parse import Parsed

ACCEPT, HOLD, REJECT, DISCARD = "accept", "hold", "reject", "discard"


@dataclass(frozen=True)
class Decision:
    action: str
    reason: str


@dataclass(frozen=True)
class PostContext:
    """What the rules look at: the group's settings, the sender's membership, the mail."""

    group_name: str
    list_id: str
    policy: str
    member_role: Optional[str]  # None when the sender is not a member
    envelope_from: str
    mail: Parsed
    member_moderated: bool = False  # an owner set this member's posts to be held
    new_member_checked: bool = False  # a new member in a group that checks first posts
    recent_posts: int = 0  # the sender's posts published in the last hour
    rate_limit: int = 0  # posts per hour before the rest are held; 0 means no limit
    answers_digest: bool = False  # In-Reply-To/References name one of our digests


Rule = Callable[[PostContext], Optional[Decision]]

_RESEND = ("more than a list can pass on. Send it again with fewer attachments, or as a new mail rather than "
           "forwarded inside others")
# Why a post was held or refused, by code: what its sender and moderators are told (a discarded
# post tells nobody). Message.reason, the log and the CLI keep this English text; a notice finds
# the code and values again with `explain` (so a notice sent again days later can too) and says
# it in its reader's language with templates/reasons.txt, which has a sentence for each code.
REASONS = {
    # `too_complex` names body.Body.over_limit, which says one of these two things.
    "too_deep": "it has MIME parts nested more than {depth} levels deep, " + _RESEND,
    "too_many_parts": "it has more than {parts} MIME parts, " + _RESEND,
    "answers_digest": "it answers a digest, which covers many topics. To answer one topic, use the \"Reply\" "
                      "link under it in the digest; to start a topic, write a new mail",
    "moderated_group": "the group is moderated",
    "non_member": "the sender is not a member",
    "moderated_member": "the sender's posts are checked by a moderator",
    "new_member": "a new member's first post is checked by a moderator",
    "rate_limit": "more than {limit} posts in an hour",
    # What became of a held post (moderation.decide_held); `by` is an address or one of DECIDERS.
    "approved_by": "approved by {by}",
    "rejected_by": "rejected by {by}",
    "discarded_by": "discarded by {by}",
}
# Who decided, when it was no one address: templates/reasons.txt says these in the reader's words.
BY_LINK = "a moderator on the web"
BY_CLI = "the command line"


def _pattern(text: str) -> re.Pattern[str]:
    """A REASONS text with each `{value}` a named group."""
    return re.compile("".join(re.escape(literal) + (f"(?P<{name}>.+?)" if name else "")
                              for literal, name, _, _ in string.Formatter().parse(text)))


_PATTERNS = {code: _pattern(text) for code, text in REASONS.items()}


def because(code: str, **values: object) -> str:
    """The stored (English) reason for `code`; `explain` reads it back."""
    return REASONS[code].format(**values)


def _because(action: str, code: str, **values: object) -> Decision:
    return Decision(action, because(code, **values))


def explain(reason: str) -> dict[str, str]:
    """The code and values of a reason in REASONS (`{"code": "rate_limit", "limit": "20"}`), for a
    notice to say it in its reader's words; {} for any other text, such as a moderator's own."""
    for code, pattern in _PATTERNS.items():
        found = pattern.fullmatch(reason)
        if found:
            return {"code": code, **found.groupdict()}
    return {}


def from_this_list(ctx: PostContext) -> Optional[Decision]:
    """A copy of our own list coming back would loop."""
    if ctx.list_id and f"<{ctx.list_id}>" in ctx.mail.list_id:
        return Decision(DISCARD, "loop: the mail already came from this list")
    return None


def auto_generated(ctx: PostContext) -> Optional[Decision]:
    """Auto-replies, bulk mail and bounces are never posted or answered (RFC 3834)."""
    if ctx.mail.auto_submitted and ctx.mail.auto_submitted != "no":
        return Decision(DISCARD, f"auto-generated mail (Auto-Submitted: {ctx.mail.auto_submitted})")
    if ctx.mail.precedence in ("bulk", "junk", "list"):
        return Decision(DISCARD, f"auto-generated mail (Precedence: {ctx.mail.precedence})")
    if not ctx.envelope_from:
        return Decision(DISCARD, "empty return path: a bounce or auto-reply")
    return None


def no_sender(ctx: PostContext) -> Optional[Decision]:
    if not ctx.mail.from_addr or "@" not in ctx.mail.from_addr:
        return Decision(DISCARD, "no sender address in From")
    return None


def too_complex(ctx: PostContext) -> Optional[Decision]:
    """Past the MIME depth or part limit mailhub cannot read the whole mail, so the archive, digests
    and text-only copies would silently miss its end; mail servers refuse such mail for the same
    reason (Postfix: mime_nesting_limit). The sender hears what to change."""
    if ctx.mail.mime_over_limit:
        return Decision(REJECT, f"it has {ctx.mail.mime_over_limit}, {_RESEND}")
    return None


def reply_to_digest(ctx: PostContext) -> Optional[Decision]:
    """A digest covers many topics: posting a reply to it would start a topic called
    "Re: Weekly digest". The sender is told how to answer the topic they meant."""
    if ctx.answers_digest:
        return _because(REJECT, "answers_digest")
    return None


def _trusted(ctx: PostContext) -> bool:
    return ctx.member_role in TRUSTED


def moderated_group(ctx: PostContext) -> Optional[Decision]:
    if ctx.policy == "moderated" and not _trusted(ctx):
        return _because(HOLD, "moderated_group")
    return None


def non_member(ctx: PostContext) -> Optional[Decision]:
    if ctx.member_role is None and ctx.policy != "open":
        return _because(HOLD, "non_member")
    return None


def moderated_member(ctx: PostContext) -> Optional[Decision]:
    if ctx.member_moderated and not _trusted(ctx):
        return _because(HOLD, "moderated_member")
    return None


def new_member(ctx: PostContext) -> Optional[Decision]:
    if ctx.new_member_checked and not _trusted(ctx):
        return _because(HOLD, "new_member")
    return None


def over_rate_limit(ctx: PostContext) -> Optional[Decision]:
    if ctx.rate_limit and ctx.recent_posts >= ctx.rate_limit and not _trusted(ctx):
        return _because(HOLD, "rate_limit", limit=ctx.rate_limit)
    return None


# Mail nobody should answer or act on, whatever it says.
SCREENS: tuple[Rule, ...] = (from_this_list, auto_generated, no_sender)
RULES: tuple[Rule, ...] = (*SCREENS, too_complex, reply_to_digest, moderated_group, non_member, moderated_member,
                           new_member, over_rate_limit)


def decide(ctx: PostContext, rules: tuple[Rule, ...] = RULES) -> Decision:
    for rule in rules:
        decision = rule(ctx)
        if decision is not None:
            return decision
    return Decision(ACCEPT, "allowed to post")
