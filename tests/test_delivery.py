"""Delivery survives a relay outage, a refusing relay and a service restart."""
from __future__ import annotations

import json

from conftest import DOMAIN, Env, Sink, mail, wait_for

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
