"""The relay is slow, says "try later" for a long time, or wants STARTTLS and a login: copies
wait with back-off and all go out when it recovers; past `give_up_after` they fail with the
relay's last answer recorded. (A relay that is down altogether: tests/test_delivery.py.)"""
from __future__ import annotations

import json
import ssl
from pathlib import Path
from typing import Iterator, NamedTuple

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from conftest import DOMAIN, Env, Sink, SinkHandler, free_port, mail, wait_for

POST = f"mentors@{DOMAIN}"
MEMBERS = ["bea@example.com", "cem@example.com", "dan@example.com"]
TRY_LATER = "451 4.3.2 System not accepting network messages"


def queue(env: Env) -> dict:
    return json.loads(env.cli("queue", "--json").output)


@pytest.fixture
def running(tmp_path: Path, sink: Sink) -> Iterator[Env]:
    env = Env(tmp_path, sink.port, extra="give_up_after = 3")
    env.edit_config(lambda text: text.replace("timeout = 5", "timeout = 1"))
    env.group("mentors", "ann@example.com", *MEMBERS)
    yield env
    env.stop()


def test_a_slow_relay_times_out_and_every_copy_goes_out_once_it_is_quick_again(running: Env, sink: Sink):
    sink.handler.delay = 1.5  # longer than [relay] timeout = 1
    running.start()
    running.send(mail(subject="Slow day"), [POST])
    errors = wait_for(lambda: queue(running)["errors"], what="a timed-out send recorded")
    assert "timed out" in errors[0]["error"]
    sink.handler.delay = 0
    for member in MEMBERS:
        sink.wait(member)
    running.drained()
    assert queue(running)["counts"]["failed"] == 0


def test_try_later_for_a_long_time_retries_with_back_off_then_delivers(tmp_path: Path, sink: Sink):
    env = Env(tmp_path, sink.port)  # retries 0.2 s, doubling, at most 0.5 s apart
    env.group("mentors", "ann@example.com", *MEMBERS)
    sink.handler.refuse.update({m: TRY_LATER for m in MEMBERS})
    env.start()
    try:
        env.send(mail(subject="Patience"), [POST])
        # Several refusals each, none given up on: the copies are still pending.
        wait_for(lambda: all(e["attempts"] >= 3 for e in queue(env)["errors"]) and len(queue(env)["errors"]) == 3,
                 what="three refusals of each copy")
        q = queue(env)
        assert q["counts"] == {"pending": 3, "sent": 0, "failed": 0}
        assert all("451" in e["error"] for e in q["errors"])
        sink.handler.refuse.clear()
        for member in MEMBERS:
            assert sink.wait(member)[0]["Subject"] == "[mentors] Patience"
        env.drained()
        assert queue(env)["counts"] == {"pending": 0, "sent": 3, "failed": 0}
    finally:
        env.stop()


def test_copies_refused_past_give_up_after_fail_with_the_last_answer(running: Env, sink: Sink):
    sink.handler.refuse.update({m: TRY_LATER for m in MEMBERS})
    running.start()
    running.send(mail(subject="Never mind"), [POST])
    wait_for(lambda: queue(running)["counts"]["failed"] == 3, timeout=30, what="the copies given up on")
    q = queue(running)
    assert q["counts"]["pending"] == 0
    assert {e["recipient"] for e in q["errors"] if e["state"] == "failed"} == set(MEMBERS)
    assert all("451 4.3.2" in e["error"] for e in q["errors"])
    sink.handler.refuse.clear()
    running.send(mail(subject="Back to normal"), [POST])
    assert [m["Subject"] for m in sink.wait("bea@example.com")] == ["[mentors] Back to normal"]


class TLSRelay(NamedTuple):
    handler: SinkHandler
    port: int


@pytest.fixture
def tls_relay(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TLSRelay]:
    """A relay that only talks after STARTTLS, with a certificate from the test's own CA (which
    the worker process trusts through SSL_CERT_FILE, as a site would add its CA), and only
    relays for user "mailhub" with password "s3cret"."""
    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "ca.pem"))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)

    def login(server, session, envelope, mechanism, auth_data) -> AuthResult:  # noqa: ANN001
        return AuthResult(success=isinstance(auth_data, LoginPassword) and auth_data.login == b"mailhub"
                          and auth_data.password == b"s3cret", handled=False)  # False: aiosmtpd answers 535

    handler = SinkHandler()
    relay = Controller(handler, hostname="127.0.0.1", port=free_port(), tls_context=context,
                       require_starttls=True, auth_required=True, authenticator=login)
    relay.start()
    yield TLSRelay(handler, relay.port)
    relay.stop()


def through(tmp_path: Path, relay: TLSRelay, password: str) -> Env:
    """mailhub set to STARTTLS and log in to `relay`, with a group of four, running."""
    env = Env(tmp_path, relay.port)
    env.edit_config(lambda text: text.replace(
        "[relay]\n", f'[relay]\nstarttls = true\nusername = "mailhub"\npassword = "{password}"\n'))
    env.group("mentors", "ann@example.com", *MEMBERS)
    env.start()
    return env


def test_copies_go_through_a_relay_that_wants_starttls_and_a_login(tmp_path: Path, tls_relay: TLSRelay):
    env = through(tmp_path, tls_relay, "s3cret")
    try:
        env.send(mail(subject="Encrypted"), [POST])
        wait_for(lambda: tls_relay.handler.count() == 3, what="three copies through the TLS relay")
    finally:
        env.stop()


def test_a_wrong_relay_password_keeps_the_copies_waiting_with_the_reason(tmp_path: Path, tls_relay: TLSRelay):
    env = through(tmp_path, tls_relay, "wrong")
    try:
        env.send(mail(subject="Locked out"), [POST])
        errors = wait_for(lambda: queue(env)["errors"], what="the refused login recorded")
        assert "refused the session: 535" in errors[0]["error"]
        assert queue(env)["counts"]["failed"] == 0 and tls_relay.handler.count() == 0
    finally:
        env.stop()
