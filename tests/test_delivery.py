"""Delivery survives a relay outage, a refusing relay and a service restart."""
from __future__ import annotations

import json

from sqlmodel import Session, create_engine, select

from conftest import DOMAIN, Env, Sink, SinkHandler, mail, wait_for
from mailhub.models import Outbox

POST = f"mentors@{DOMAIN}"


def queue(env: Env) -> dict:
    return json.loads(env.cli("queue", "--json").output)


def test_relay_down_then_up_delivers_everything(tmp_path):
    relay = Sink()  # its port is reserved in the config but nothing listens yet
    env = Env(tmp_path, relay.port)
    env.group("mentors", "ann@example.com", "bea@example.com", "cem@example.com")
    env.start()
    try:
        env.send(mail(subject="While the relay sleeps"), [POST])
        # The copies wait in the queue with an error saying why…
        q = wait_for(lambda: (q := queue(env))["errors"] and q, what="a recorded relay error")
        assert q["counts"]["pending"] == 2 and q["counts"]["sent"] == 0
        assert "relay" in q["errors"][0]["error"] and q["errors"][0]["attempts"] >= 1
        # …and all go out once the relay is back.
        relay.start()
        wait_for(lambda: relay.count() == 2, what="delivery after the relay came back")
        assert queue(env)["counts"] == {"pending": 0, "sent": 2, "failed": 0}
        assert {r.rcpt_tos[0] for r in relay.received} == {"bea@example.com", "cem@example.com"}
    finally:
        env.stop()
        relay.stop()


def test_permanent_refusal_fails_that_recipient_only(env, sink):
    sink.handler.refuse["gone@example.com"] = "550 5.1.1 No such user"
    env.group("mentors", "ann@example.com", "bea@example.com", "gone@example.com")
    env.start()
    env.send(mail(), [POST])
    wait_for(lambda: queue(env)["counts"]["failed"] == 1, what="the refused copy marked failed")
    wait_for(lambda: sink.to("bea@example.com"))
    q = queue(env)
    assert q["counts"]["sent"] == 1 and q["counts"]["pending"] == 0
    failed = [e for e in q["errors"] if e["state"] == "failed"]
    assert failed[0]["recipient"] == "gone@example.com" and "550" in failed[0]["error"]


def test_restart_mid_queue_sends_each_copy_exactly_once(tmp_path, sink):
    members = [f"m{i:02d}@example.com" for i in range(40)]
    sink.handler.delay = 0.03  # a slow relay, so the stop lands in the middle of the fan-out
    env = Env(tmp_path, sink.port, extra="connections = 2\nbatch_size = 10")
    env.group("mentors", "ann@example.com", *members)
    env.start()
    try:
        env.send(mail(subject="Big announcement"), [POST])
        wait_for(lambda: sink.count() >= 5, what="the first copies")
        env.stop()
        sent_before_restart = sink.count()
        assert 0 < sent_before_restart < len(members), "the stop should land mid-queue"
        assert queue(env)["counts"]["pending"] == len(members) - sent_before_restart
        env.start()
        wait_for(lambda: queue(env)["counts"]["pending"] == 0, timeout=30, what="the queue to drain")
    finally:
        env.stop()
    got = sorted(r.rcpt_tos[0] for r in sink.received)
    assert got == sorted(members)  # everyone once, nobody twice


class PipeliningRelay(SinkHandler):
    """A relay that offers PIPELINING (RFC 2920), as Postfix does: mailhub then sends MAIL, RCPT
    and DATA in one write. aiosmtpd reads them one by one, so it takes them like any client's."""

    async def handle_EHLO(self, server, session, envelope, hostname, responses):  # noqa: ANN001
        session.host_name = hostname
        return [*responses[:-1], "250-PIPELINING", responses[-1]]


class ClosingRelay(PipeliningRelay):
    """A relay that hangs up after every second mail on a connection, as smarthosts with a limit
    of mails per connection do."""

    async def handle_DATA(self, server, session, envelope):  # noqa: ANN001
        answer = await super().handle_DATA(server, session, envelope)
        server.taken = getattr(server, "taken", 0) + 1
        if server.taken % 2 == 0:
            import asyncio
            asyncio.get_running_loop().call_soon(server.transport.close)  # once the 250 is written
        return answer


def test_a_relay_that_hangs_up_between_mails_costs_no_copy_a_retry(tmp_path):
    """The copy after the hang-up goes over a new connection at once: not refused, not retried
    a minute later, not sent twice."""
    relay = Sink()
    relay.handler = ClosingRelay()
    relay.controller.handler = relay.handler
    relay.start()
    members = [f"m{i}@example.com" for i in range(7)]
    env = Env(tmp_path, relay.port, extra="connections = 1")
    env.group("mentors", "ann@example.com", *members)
    env.start()
    try:
        env.send(mail(subject="Hello"), [POST])
        wait_for(lambda: queue(env)["counts"]["sent"] == len(members), timeout=10, what="every copy sent")
        engine = create_engine(env.config.database.url)
        with Session(engine) as session:  # no copy failed an attempt (`attempts` counts failures)
            attempts = session.exec(select(Outbox.attempts).where(Outbox.kind == "copy")).all()
        engine.dispose()
        assert attempts == [0] * len(members)
    finally:
        env.stop()
        relay.stop()
    assert sorted(r.rcpt_tos[0] for r in relay.received) == sorted(members)


def test_a_relay_with_pipelining_gets_every_copy_byte_for_byte_and_refusals_count(tmp_path):
    relay = Sink()
    relay.handler = PipeliningRelay()
    relay.controller.handler = relay.handler
    relay.start()
    relay.handler.refuse["gone@example.com"] = "550 5.1.1 No such user"
    relay.handler.refuse_data["full@example.com"] = "552 5.2.2 Mailbox full"
    members = ["bea@example.com", "gone@example.com", "cem@example.com", "full@example.com", "dan@example.com"]
    # One connection: the copies after each refusal go over the connection that was refused.
    env = Env(tmp_path, relay.port, extra="connections = 1")
    env.group("mentors", "ann@example.com", *members)
    env.start()
    try:
        env.send(mail(subject="Dots", body=".a line that starts with a dot\r\n.\r\n..two"), [POST])
        wait_for(lambda: queue(env)["counts"]["failed"] == 2 and queue(env)["counts"]["sent"] == 3,
                 what="three copies sent and two refused")
    finally:
        env.stop()
    assert sorted(r.rcpt_tos[0] for r in relay.received) == ["bea@example.com", "cem@example.com", "dan@example.com"]
    for copy in relay.received:  # the dots came through unstuffed, as the post had them
        assert b"\r\n.a line that starts with a dot\r\n.\r\n..two\r\n" in copy.data
    failed = {e["recipient"]: e["error"] for e in queue(env)["errors"] if e["state"] == "failed"}
    assert failed["gone@example.com"].startswith("550") and failed["full@example.com"].startswith("552")
    relay.stop()
