"""What the listener's store thread writes, and how the worker gives way to intake.

The store writes a batch of new mail with one prepared statement on SQLite (not the ORM): the
rows must read back exactly like rows the ORM writes, or queries that compare times or read the
attachments list would go wrong for some mail and not for other."""
from __future__ import annotations

import json
import threading
import time
from pathlib import Path

from sqlalchemy import text
from sqlmodel import Session, select

from conftest import DOMAIN, Env, mail
from mailhub.db import make_engine
from mailhub.doorbell import IntakeWatch
from mailhub.models import Message
from mailhub.store import DUPLICATE, REUSED_ID, STORED, Incoming, insert_incoming


def test_a_batch_is_stored_once_each_and_reads_back_like_rows_the_orm_writes(tmp_path: Path) -> None:
    env = Env(tmp_path, 9)  # no service: the test is the store
    env.group("mentors", "ann@example.com")
    group_id = json.loads(env.cli("group", "show", "mentors", "--json").output)["id"]
    engine = make_engine(env.config.database.url)
    first, second = mail(subject="One", message_id="<one@example.com>"), mail(subject="Two")
    other_with_first_id = mail(subject="Not one", message_id="<one@example.com>")

    def incoming(raw: bytes) -> Incoming:
        return Incoming(group_id=group_id, channel="post", address_token=None, rcpt=f"mentors@{DOMAIN}",
                        envelope_from="ann@example.com", raw=raw)

    with Session(engine) as session:
        stored = insert_incoming(session, [incoming(first), incoming(second), incoming(first),
                                           incoming(other_with_first_id)], DOMAIN)
        session.commit()
    assert [s.outcome for s in stored] == [STORED, STORED, DUPLICATE, REUSED_ID]
    assert stored[2].earlier == stored[0].pk and stored[3].earlier == stored[0].pk
    with Session(engine) as session:
        rows = {m.id: m for m in session.exec(select(Message))}
        assert rows[stored[0].pk].raw == first and rows[stored[1].pk].raw == second
        assert rows[stored[0].pk].state == "new" and rows[stored[0].pk].attachments == []
        assert rows[stored[2].pk].state == "discarded"  # kept, so `mailhub messages` shows what happened
        # The first two rows came from the prepared statement, the last two through the ORM:
        # the same column types and the same text form of the time, to the microsecond.
        stored_as = {pk: tuple(r) for pk, *r in session.execute(text(
            "SELECT id, typeof(received_at), length(received_at), typeof(attachments), attachments, typeof(raw) "
            "FROM messages"))}
    assert stored_as[stored[0].pk] == stored_as[stored[1].pk] == stored_as[stored[3].pk]
    assert stored_as[stored[0].pk] == ("text", 26, "text", "[]", "blob")
    engine.dispose()


def test_processing_waits_while_mail_arrives_but_never_long() -> None:
    watch = IntakeWatch()
    assert watch.give_way() == 0.0  # nothing arriving: no wait

    arriving = threading.Event()

    def sender() -> None:  # a commit every 5 ms, as a busy listener rings
        while not arriving.is_set():
            watch.rung()
            time.sleep(0.005)

    ringing = threading.Thread(target=sender)
    ringing.start()
    try:
        waited = watch.give_way()
        assert IntakeWatch.MAX_WAIT <= waited < IntakeWatch.MAX_WAIT + 0.3  # gave way, then went on
        assert watch.give_way() == 0.0  # and works on for a while without waiting again
    finally:
        arriving.set()
        ringing.join()
    time.sleep(IntakeWatch.MAX_WAIT)
    watch.rung()
    waited = watch.give_way()  # a mail just now, then quiet: waits only until the burst is over
    assert 0.0 < waited < IntakeWatch.MAX_WAIT
