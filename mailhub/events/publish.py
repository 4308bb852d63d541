"""`mailhub event create`: the group itself posts an invitation. Stored like any mail (so the
archive has it), then published at once: an admin's event skips the post policy, as an owner's
`mailhub post` would pass it."""
from __future__ import annotations

from sqlmodel import Session, func, select

from mailhub.config import Config
from mailhub.db import writing
from mailhub.events.record import event_of_topic
from mailhub.fanout import Rosters
from mailhub.leases import claim
from mailhub.models import Group, Message, Outbox
from mailhub.parse import parse_message
from mailhub.process import fill_derived
from mailhub.publish import publish
from mailhub.router import address_for
from mailhub.store import Incoming, insert_incoming


def post_event(session: Session, config: Config, group: Group, raw: bytes) -> tuple[int, int, int]:
    """Returns the stored message's id, the invitations queued and the event's id."""
    to = address_for(group.name, config.server.domain)
    stored, = insert_incoming(session, [Incoming(group_id=group.id, channel="post", address_token=None, rcpt=to,
                                                 envelope_from=address_for(group.name, config.server.domain, "owner"),
                                                 raw=raw)], config.server.domain)
    message_pk = stored.pk
    session.commit()
    engine = session.get_bind()
    with Session(engine) as claiming:  # type: ignore[arg-type]
        claim(claiming, Message, (Message.id == message_pk) & (Message.state == "new"), 1,
              config.delivery.lease_seconds)
    with writing(engine), Session(engine) as write:  # type: ignore[arg-type]
        message = write.get(Message, message_pk)
        assert message is not None
        mail = parse_message(raw)
        fill_derived(message, mail)
        message.from_name = group.title or group.name
        publish(write, config, group, message, mail, Rosters().get(write, group.id))
        message.lease_until = None
        write.add(message)
        write.commit()
        queued = write.exec(select(func.count()).select_from(Outbox).where(Outbox.message_pk == message_pk)).one()
        event = event_of_topic(write, message.topic_id)
        return message_pk, queued, event.id if event is not None and event.id is not None else 0
