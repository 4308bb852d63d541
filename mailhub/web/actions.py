"""What a link does, in the database. A link names a row and carries its MAC (links.py); these
functions find the row, check the MAC, and call the very domain function the mail path calls:
`leave_now` as mail to `-leave+TOKEN@` does, `confirm` as a reply to a confirmation does,
`decide_held` as a moderator's reply does. So the same mails follow (goodbye, welcome, the
copies of an approved post), and one fix mends both paths.

`show` only reads (mail scanners open every link); `act` writes, in one short transaction.
Both run on the web listener's thread pool, never on its event loop."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Optional, Union

from sqlalchemy.engine import Engine
from sqlmodel import Session

from mailhub import links
from mailhub.commands import MAX_LINE, Verdict, clean_text
from mailhub.config import Config
from mailhub.db import writing
from mailhub.logs import event
from mailhub.membership import confirm, expired, leave_now
from mailhub.models import Group, Member, Message, Token
from mailhub.moderation import decide_held
from mailhub.names import author_name
from mailhub.notices import member_language, reader_language
from mailhub.policy import BY_LINK, explain
from mailhub.web.pages import excerpt, group_context, line

log = logging.getLogger(__name__)

PURPOSES = {links.CONFIRM: ("join", "leave"), links.MODERATE: ("moderate",)}
VERDICTS = ("approve", "reject", "discard")


@dataclass(frozen=True)
class Page:
    template: str
    status: int = 200
    context: dict[str, Any] = field(default_factory=dict)
    language: str | None = None  # its reader's; None when the link names nobody: the browser's then


def addressed(page: Page, language: str) -> Page:
    """`page` in the language of the person its link names. A 404 stays in the browser's: it must
    look the same for every link, so it says nothing of whom a link named."""
    return page if page.status == 404 else replace(page, language=language)


NOT_FOUND = Page("error.html", 404, {"problem": "not_found"})
# A second one-click POST for a member who left (a mail provider retrying, a second tap): 2xx, as
# RFC 8058 senders expect, and a page that names nobody. See `act`.
NOTHING = Page("nothing.html")


class _Gone:
    """The row a well-formed link names is not there (any more)."""


GONE = _Gone()
Found = tuple[Union[Member, Token], Group]


class Actions:
    def __init__(self, engine: Engine, config: Config, secret: bytes) -> None:
        self.engine, self.config, self.secret = engine, config, secret

    def find(self, session: Session, kind: str, text: str, lock: bool = False) -> Union[Found, _Gone, None]:
        """The row and group a link acts on, GONE, or None for a link that is not (or no longer)
        good: made up, moved to another row or kind, expired, or its row's token changed."""
        claimed = links.read(text)
        if claimed is None:
            return None
        model = Member if kind == links.UNSUBSCRIBE else Token
        # FOR UPDATE (PostgreSQL): two taps at once settle one after the other. SQLite ignores it;
        # there `writing` already runs one write at a time.
        row = session.get(model, claimed.row_id, with_for_update=lock)
        if row is None:
            return GONE
        if not links.valid(self.secret, kind, claimed, row.token):
            return None
        if isinstance(row, Token) and (row.purpose not in PURPOSES[kind] or expired(row)):
            return None
        group = session.get(Group, row.group_id)
        return (row, group) if group is not None else None

    def language(self, session: Session, row: Member | Token, group: Group) -> str:
        """Whom the page speaks to, as the mail that brought the link did: the member it names;
        the person confirming (their membership's setting, else what their mail declared); for a
        held post, a moderator the token does not name, so the group's language."""
        if isinstance(row, Member):
            return member_language(self.config, group, row.language)
        if row.purpose in PURPOSES[links.CONFIRM]:
            return reader_language(session, self.config, group, row.email, row.language)
        return member_language(self.config, group)

    def show(self, kind: str, text: str) -> Page:
        """The page a GET shows. Changes nothing."""
        with Session(self.engine) as session:
            found = self.find(session, kind, text)
            if not isinstance(found, tuple):
                return NOT_FOUND
            row, group = found
            return addressed(self._show(session, row, group), self.language(session, row, group))

    def _show(self, session: Session, row: Member | Token, group: Group) -> Page:
        about = group_context(self.config, group)
        if isinstance(row, Member):
            return Page("unsubscribe.html", context={"group": about})
        if row.purpose in PURPOSES[links.CONFIRM]:
            return Page("confirm.html", context={"group": about, "purpose": row.purpose})
        held = session.get(Message, row.message_pk) if row.message_pk else None
        if held is None:
            return NOT_FOUND
        if held.state != "held":
            return Page("decided.html", context={"group": about, "outcome": "not_held", **_decided(held)})
        text, cut = excerpt(held.new_text or held.body_text)
        return Page("held.html", context={
            "group": about, "author": line(author_name(held.from_name, "", held.from_addr)),
            "sender": line(held.from_addr), "subject": line(held.subject), "reason": line(held.reason),
            "why": explain(held.reason), "text": text, "cut": cut})

    def act(self, kind: str, text: str, form: dict[str, str], client: str) -> Page:
        """Do what the link is for; `form` was checked by `read_form`. A member who already left
        gets NOTHING: after leaving, their row is gone, so whether this MAC was ever good cannot
        be known; the page names no group and no address, so it tells nobody anything."""
        with writing(self.engine), Session(self.engine) as session:
            found = self.find(session, kind, text, lock=True)
            if found is GONE and kind == links.UNSUBSCRIBE:
                return NOTHING
            if not isinstance(found, tuple):
                return NOT_FOUND
            row, group = found
            language = self.language(session, row, group)  # before the row goes, when one leaves
            if isinstance(row, Member):
                page, logged = self._leave(session, group, row, client)
            elif row.purpose in PURPOSES[links.CONFIRM]:
                page, logged = self._confirm(session, group, row, client)
            else:
                page, logged = self._decide(session, group, row, form, client)
            session.commit()
        logged()  # after the commit: a line written before would claim what a failed commit undid
        return addressed(page, language)

    def _leave(self, session: Session, group: Group, member: Member, client: str) -> tuple[Page, Callable[[], None]]:
        about, email = group_context(self.config, group), member.email
        leave_now(session, self.config, group, member, f"web-goodbye:{member.token}")
        return Page("left.html", context={"group": about}), \
            lambda: event(log, "web_unsubscribed", group=about["name"], member=email, peer=client)

    def _confirm(self, session: Session, group: Group, token: Token, client: str) -> tuple[Page, Callable[[], None]]:
        about, email, purpose = group_context(self.config, group), token.email, token.purpose
        outcome = confirm(session, self.config, group, token, f"web-confirmed:{token.token}")
        return Page("confirmed.html", context={"group": about, "outcome": outcome}), \
            lambda: event(log, "web_confirmed", group=about["name"], member=email, purpose=purpose, outcome=outcome,
                          peer=client)

    def _decide(self, session: Session, group: Group, token: Token, form: dict[str, str],
                client: str) -> tuple[Page, Callable[[], None]]:
        about = group_context(self.config, group)
        held = session.get(Message, token.message_pk, with_for_update=True) if token.message_pk else None
        if held is None:
            return NOT_FOUND, lambda: None
        if held.state != "held":  # someone decided first, by mail, CLI or link: say who, as mail does
            return Page("decided.html", context={"group": about, "outcome": "not_held", **_decided(held)}), lambda: None
        verdict = Verdict(form["verdict"], clean_text(form.get("reason", ""), MAX_LINE))
        held_id, subject = held.id, line(held.subject)
        outcome = decide_held(session, self.config, held, verdict, BY_LINK)
        return Page("decided.html", context={"group": about, "outcome": outcome, "subject": subject,
                                             "reason": line(verdict.reason), **_decided(held)}), \
            lambda: event(log, "web_decided", group=about["name"], id=held_id, verdict=verdict.action,
                          outcome=outcome, peer=client)


def _decided(held: Message) -> dict[str, Any]:
    """What decided.html says became of a post: its stored reason, and that reason's code for
    templates/reasons.txt to say in the reader's words."""
    return {"decided": line(held.reason), "why": explain(held.reason)}


def read_form(kind: str, form: dict[str, str]) -> Optional[dict[str, str]]:
    """The POST body a link's action needs, or None (400): the RFC 8058 one-click body for an
    unsubscribe, a verdict for a held post, nothing for a confirmation."""
    if kind == links.UNSUBSCRIBE:
        return form if form.get("List-Unsubscribe") == "One-Click" else None
    if kind == links.MODERATE:
        return form if form.get("verdict") in VERDICTS else None
    return form
