"""Private mail through the group: a member writes to another member's relay address
(`group+p-TOKEN@`, from a copy's footer) or to their mentoring pair's channel (`group-pair-KEY@`),
and the other gets it from an address of the group, never learning the writer's address (nor the
writer theirs). Who may write is checked at RCPT (relay.rcpt_problem) and again here when the
mail is worked; every mail passed on is logged (RelayLog: who, when, size) and, where the group
asks for it, copied to its safeguarding address."""
from __future__ import annotations

from sqlalchemy import delete
from sqlmodel import Session

from mailhub import links
from mailhub.commands import PRIVATE_WORDS, reply_word
from mailhub.compose import build_private
from mailhub.config import Config
from mailhub.db import insert_ignoring_duplicates
from mailhub.fanout import enqueue
from mailhub.i18n.catalogs import translations
from mailhub.models import Block, Group, Message, RelayLog, utcnow
from mailhub.names import author_name, without_addresses
from mailhub.notices import answer, member_language, render
from mailhub.parse import Parsed
from mailhub.relay import Route, bind, make_token, route
from mailhub.router import PAIR, PRIVATE, Address, address_for

def on_private(session: Session, config: Config, group: Group, message: Message, mail: Parsed,
               address: Address) -> None:
    """Work mail to a relay or pair address: `block`/`unblock` alone acts on the other person;
    anything else is passed on to them (and to the safeguarding address)."""
    found = route(session, config, group.id, address, message.envelope_from, message.received_at)
    if isinstance(found, str):  # they left, were blocked or the pair ended after RCPT
        message.state, message.reason = "rejected", f"private mail refused: {found}"
        return
    word = None if found.pair else reply_word(mail.subject, mail.body_text, group.prefix, new=message.new_text,
                                             words=PRIVATE_WORDS)
    if word:
        _block(session, config, group, message, found, word == "block")
        return
    if found.blocking:  # a block works both ways: the one who blocked is told how to undo it
        language = member_language(config, group, found.writer.language)
        answer(session, config, group, found.writer.email, f"blocking:{message.id}", "private_refused.txt",
               in_reply_to=message.message_id, other=_name(found.reader.name, language))
        message.state, message.reason = "rejected", f"private mail refused: the writer blocked member {found.reader.id}"
        return
    _relay(session, config, group, message, mail, found)


def _block(session: Session, config: Config, group: Group, message: Message, found: Route, on: bool) -> None:
    writer, other = found.writer, found.reader
    if on:
        insert_ignoring_duplicates(session, Block, [{"group_id": group.id, "blocker": writer.email,
                                                     "blocked": other.email, "created_at": utcnow()}],
                                   ["group_id", "blocker", "blocked"])
    else:
        session.execute(delete(Block).where(Block.group_id == group.id, Block.blocker == writer.email,
                                            Block.blocked == other.email))
    language = member_language(config, group, writer.language)
    answer(session, config, group, writer.email, f"block:{message.id}", "blocked.txt", in_reply_to=message.message_id,
           blocked=on, other=_name(other.name, language))
    message.state, message.reason = "done", f"{'block' if on else 'unblock'}: member {other.id}"


def _name(name: str, language: str) -> str:
    """A member's name as another member may see it: without any address written into it."""
    # Translators: how a private mail or a mentoring pair's mail names a member who gave no name.
    return without_addresses(" ".join(name.split())) or translations(language).gettext("a member")


def _relay(session: Session, config: Config, group: Group, message: Message, mail: Parsed, found: Route) -> None:
    writer, reader, pair = found.writer, found.reader, found.pair
    domain = config.server.domain
    language = member_language(config, group, reader.language)
    author = _name(author_name(mail.from_name, writer.name, mail.from_addr, hidden=True), language)
    if pair is not None:
        back = address_for(group.name, domain, PAIR, pair.key)
    else:  # the reader's answer goes back through a relay address of their own
        back = address_for(group.name, domain, PRIVATE, make_token(
            links.site_secret(session), group.id, reader.id, writer.id, utcnow(), bind(reader.token, writer.token)))
    footer = render(config.templates, "private_footer.txt", language, group=group.name, author=author,
                    pair=pair is not None, private_copy=group.private_copy)
    sender = translations(language).gettext("%(name)s via %(group)s") % {"name": author, "group": group.name}
    rows = [{"key": f"{PRIVATE}:{message.id}:{reader.id}", "kind": PRIVATE, "group_id": group.id,
             "member_id": reader.id, "recipient": reader.email, "message_pk": message.id,
             "payload": build_private(message.raw, sender=sender, reply_address=back, to=reader.email,
                                      footer=footer, message_id=message.message_id, received_at=message.received_at)}]
    if group.private_copy:
        staff_language = member_language(config, group)
        staff_footer = render(config.templates, "private_copy_footer.txt", staff_language, group=group.name,
                              writer=writer.name or writer.email, writer_address=writer.email,
                              reader=reader.name or reader.email, reader_address=reader.email,
                              pair=pair is not None)
        rows.append({"key": f"{PRIVATE}-copy:{message.id}", "kind": PRIVATE, "group_id": group.id,
                     "recipient": group.private_copy, "message_pk": message.id,
                     "payload": build_private(message.raw, sender=sender,
                                              reply_address=address_for(group.name, domain, "owner"),
                                              to=group.private_copy, footer=staff_footer,
                                              message_id=message.message_id, received_at=message.received_at)})
    enqueue(session, rows)
    insert_ignoring_duplicates(session, RelayLog, [{
        "group_id": group.id, "kind": PAIR if pair else PRIVATE, "pair_id": pair.id if pair else None,
        "message_pk": message.id, "sender": writer.email, "recipient": reader.email, "size": len(message.raw),
        "at": message.received_at}], ["message_pk", "recipient"])
    message.state = "done"
    message.reason = f"passed on privately to member {reader.id}" + (" (copy to staff)" if group.private_copy else "")
