"""`mailhub messages`: what became of every mail that was taken (answered 250), newest first.
Mail dropped on purpose (auto-replies, mail without a From, loops, a second delivery of the same
mail) is listed here with its reason, like what was posted, held, rejected or failed."""
from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal, Optional

import typer

from mailhub.cli.common import ConfigOpt, JsonOpt, fail, find_group, opened, print_rows, when

if TYPE_CHECKING:
    from sqlmodel import Session

    from mailhub.models import Message

# new: not processed yet; done: a command, bounce or forward that was carried out.
State = Literal["new", "posted", "held", "rejected", "discarded", "done", "failed"]
SITE = "(site)"  # the group column of mail to postmaster@ and abuse@


def _row(session: Session, message: Message, group: Optional[str]) -> dict[str, Any]:
    from sqlmodel import select

    from mailhub.models import Message
    from mailhub.store import header_fields

    sender, subject = message.from_addr, message.subject
    if not sender and not subject:  # not processed (yet, or ever: a duplicate): read its headers
        sender, subject = header_fields(bytes(session.scalar(select(Message.raw).where(Message.id == message.id))))
    return {"id": message.id, "received": when(message.received_at), "group": group or SITE,
            "to": message.rcpt, "from": sender or message.envelope_from, "subject": subject,
            "message_id": message.message_id, "state": message.state, "reason": message.reason,
            "topic": message.topic_id}


def messages(
    group: Annotated[Optional[str], typer.Argument(help="one group (all groups and the site's mail if left out)")] = None,
    state: Annotated[Optional[State], typer.Option(case_sensitive=False, help="only mail in this state")] = None,
    limit: Annotated[int, typer.Option(help="at most this many, newest first")] = 50,
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
) -> None:
    """Mail received, newest first, with its state and why: posted, held, rejected, discarded
    (with the reason), done (commands, bounces, forwards), failed, or new (not processed yet)."""
    from sqlalchemy.orm import defer
    from sqlmodel import col, select

    from mailhub.models import Group, Message

    if limit < 1:
        fail(f"--limit must be at least 1, not {limit}")
    with opened(config) as (_, session):
        query = (select(Message, Group.name).join(Group, Group.id == Message.group_id, isouter=True)
                 .options(defer(Message.raw), defer(Message.body_text), defer(Message.new_text)))
        if group:
            query = query.where(Message.group_id == find_group(session, group).id)
        if state:
            query = query.where(Message.state == state)
        found = session.exec(query.order_by(col(Message.received_at).desc(), col(Message.id).desc())
                             .limit(limit)).all()
        rows = [_row(session, m, name) for m, name in found]
    what = f"no {state} mail" if state else "no mail received"
    print_rows(rows, as_json, ["id", "received", "group", "from", "subject", "state", "reason"],
               what + (f" in {group}" if group else ""))
