"""Who may post: a list of small rules, first decision wins. Pure functions, no I/O."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

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


Rule = Callable[[PostContext], Optional[Decision]]


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


def moderated_group(ctx: PostContext) -> Optional[Decision]:
    if ctx.policy == "moderated" and ctx.member_role not in ("moderator", "owner"):
        return Decision(HOLD, "the group is moderated")
    return None


def non_member(ctx: PostContext) -> Optional[Decision]:
    if ctx.member_role is None and ctx.policy != "open":
        return Decision(HOLD, "the sender is not a member")
    return None


RULES: tuple[Rule, ...] = (from_this_list, auto_generated, no_sender, moderated_group, non_member)


def decide(ctx: PostContext, rules: tuple[Rule, ...] = RULES) -> Decision:
    for rule in rules:
        decision = rule(ctx)
        if decision is not None:
            return decision
    return Decision(ACCEPT, "allowed to post")
