"""SMTP abuse (issues 7 and 17): what the listener does with clients that hold too many sessions (in all
or from one address), go silent, dribble their data, flood commands, send over-long lines or
over-sized mail, or try to relay; each gets an answer that says what was wrong, and the listener
keeps serving everyone else. Raw sockets, so that every byte on the wire is the test's own."""
from __future__ import annotations

import resource
import select as selectors
import smtplib
import socket
import time
from pathlib import Path
from typing import Iterator

import pytest
from sqlmodel import Session, select

from conftest import DOMAIN, Env, Sink, mail, text_of, wait_for
from mailhub.db import make_engine
from mailhub.models import Message
from mailhub.receive import (FILES_BESIDES_SESSIONS, TOO_MANY_FROM_ADDRESS, TOO_MANY_SESSIONS, SessionCount,
                             client_address, make_room_for_sessions)
from served import Served, serving

POST = f"mentors@{DOMAIN}"


class Client:
    """One SMTP session that sends exactly the bytes a test gives it."""

    def __init__(self, port: int, timeout: float = 15, source: str | None = None) -> None:
        """`source`: the client's own address, another than 127.0.0.1 to be another client."""
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout,
                                             source_address=(source, 0) if source else None)
        self.file = self.sock.makefile("rb")

    def send(self, data: bytes | str) -> None:
        self.sock.sendall(data.encode() if isinstance(data, str) else data)

    def reply(self) -> tuple[int, str]:
        """The next reply, all its lines; (0, "") if the server closed the connection instead."""
        lines = []
        while True:
            line = self.file.readline()
            if not line:
                return 0, ""
            lines.append(line.decode("utf-8", "replace").rstrip("\r\n"))
            if line[3:4] != b"-":
                return int(lines[-1][:3]), "\n".join(text[4:] for text in lines)

    def cmd(self, line: bytes | str) -> tuple[int, str]:
        self.send((line.encode() if isinstance(line, str) else line) + b"\r\n")
        return self.reply()

    def greeted(self) -> "Client":
        assert self.reply()[0] == 220
        assert self.cmd("EHLO client.example.com")[0] == 250
        return self

    def start_data(self) -> None:
        """MAIL, RCPT to the group and DATA, up to the 354."""
        assert self.cmd("MAIL FROM:<ann@example.com>")[0] == 250
        assert self.cmd(f"RCPT TO:<{POST}>")[0] == 250
        assert self.cmd("DATA")[0] == 354

    def post(self, data: bytes) -> tuple[int, str]:
        """One whole transaction to the group; `data` must have its dots stuffed."""
        self.start_data()
        self.send(data + (b"" if data.endswith(b"\r\n") else b"\r\n") + b".\r\n")  # as smtplib ends it
        return self.reply()

    def dribble(self, data: bytes, every: float, give_up: float = 15) -> tuple[tuple[int, str], float]:
        """Send `data` every `every` seconds until the server answers; its answer, and the seconds
        from the first send to the answer."""
        began = time.monotonic()
        while time.monotonic() - began < give_up:
            try:
                self.send(data)
            except OSError:  # the server closed just now; its answer is waiting to be read
                break
            if selectors.select([self.sock], [], [], every)[0]:
                break
        return self.reply(), time.monotonic() - began

    def closed_by_server(self) -> bool:
        return self.file.read() == b""

    def close(self) -> None:
        self.file.close()
        self.sock.close()


def configure(env: Env, **server: object) -> Env:
    """These [server] keys, and a group `mentors` where ann posts and bob reads."""
    if server:
        keys = "".join(f"{key} = {value}\n" for key, value in server.items())
        env.edit_config(lambda text: text.replace("[database]", keys + "\n[database]"))
    env.group("mentors", "ann@example.com", "bob@example.com")
    return env


def start(env: Env, **server: object) -> Env:
    """Run mailhub in this process, configured as `configure` does."""
    configure(env, **server).start()
    return env


@pytest.fixture
def served(tmp_path: Path, sink: Sink) -> Iterator[Served]:
    with serving(tmp_path, sink) as s:
        yield s


def serve(served: Served, **server: object) -> Env:
    """Run the real `mailhub serve` in a process of its own, configured as `configure` does."""
    configure(served.env, **server)
    served.start()
    return served.env


def stored(env: Env) -> list[Message]:
    """Every message the listener committed, read from the service's own database."""
    engine = make_engine(env.config.database.url)
    try:
        with Session(engine) as session:
            return list(session.exec(select(Message)).all())
    finally:
        engine.dispose()


def allow_open_files(count: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= count:
        return
    if hard != resource.RLIM_INFINITY and hard < count:
        pytest.skip(f"needs {count} open files, the hard limit is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (count, hard))


SESSIONS = 210


def test_210_sessions_at_once_each_post_a_mail_and_one_more_is_told_to_come_back_later(env, sink):
    allow_open_files(2 * (SESSIONS + 2) + 200)  # both ends of every session live in this process
    start(env, max_sessions=SESSIONS, max_sessions_per_ip=SESSIONS)  # all of them come from 127.0.0.1
    clients = [Client(env.port) for _ in range(SESSIONS)]
    try:
        assert [c.reply()[0] for c in clients] == [220] * SESSIONS
        over = Client(env.port)
        code, text = over.reply()
        assert code == 421 and "4.7.0 Too many connections, try again later" in text
        assert over.closed_by_server()
        # Every session in the middle of its own transaction at the same time: each step is sent
        # on all 210 before any answer is read.
        steps = [lambda i: f"EHLO client{i}.example.com", lambda i: "MAIL FROM:<ann@example.com>",
                 lambda i: f"RCPT TO:<{POST}>", lambda i: "DATA"]
        for step, expected in zip(steps, (250, 250, 250, 354)):
            for i, c in enumerate(clients):
                c.send(step(i) + "\r\n")
            assert [c.reply()[0] for c in clients] == [expected] * SESSIONS
        for i, c in enumerate(clients):
            c.send(mail(subject=f"Session {i}") + b".\r\n")
        assert [c.reply()[0] for c in clients] == [250] * SESSIONS
        # A session that ends frees its place.
        assert clients.pop().cmd("QUIT")[0] == 221
        wait_for(lambda: (late := Client(env.port)).reply()[0] == 220 and late.cmd("QUIT")[0] == 221,
                 what="a place for a new session once one has ended")
    finally:
        for c in clients:
            c.close()
    subjects = {str(m["Subject"]) for m in sink.wait("bob@example.com", SESSIONS, timeout=60)}
    assert subjects == {f"[mentors] Session {i}" for i in range(SESSIONS)}


def test_a_silent_session_is_closed_with_421_while_a_slow_one_that_keeps_talking_is_not(env, sink):
    start(env, idle_timeout=1)
    silent, talking = Client(env.port), Client(env.port).greeted()
    assert silent.reply()[0] == 220
    for _ in range(8):  # two seconds, twice the idle timeout, one command at a time
        time.sleep(0.25)
        assert talking.cmd("NOOP")[0] == 250
    assert talking.cmd("MAIL FROM:<ann@example.com>")[0] == 250
    assert talking.cmd(f"RCPT TO:<{POST}>")[0] == 250
    assert talking.cmd("DATA")[0] == 354
    for line in mail(subject="Slow but steady").splitlines(keepends=True):  # a mail on a slow line
        time.sleep(0.25)
        talking.send(line)
    talking.send(b".\r\n")
    assert talking.reply()[0] == 250
    code, text = silent.reply()
    assert code == 421 and "4.4.2" in text and "Idle timeout" in text
    assert silent.closed_by_server()
    assert sink.wait("bob@example.com")[0]["Subject"] == "[mentors] Slow but steady"


def test_sessions_are_counted_per_client_address_and_an_ipv4_mapped_ipv6_address_is_the_ipv4_one():
    assert client_address(("::ffff:192.0.2.7", 25, 0, 0)) == "192.0.2.7"
    assert client_address(("192.0.2.7", 25)) == "192.0.2.7"
    assert client_address(("2001:db8::1", 25, 0, 0)) == "2001:db8::1"
    count = SessionCount(limit=3, per_address=2)
    assert count.enter("192.0.2.7") is None
    assert count.enter(client_address(("::ffff:192.0.2.7", 25, 0, 0))) is None
    assert count.enter("192.0.2.7") == TOO_MANY_FROM_ADDRESS
    assert count.enter("2001:db8::1") is None
    assert count.enter("2001:db8::2") == TOO_MANY_SESSIONS
    count.leave("192.0.2.7")
    assert count.enter("192.0.2.7") is None
    for address in ("192.0.2.7", "192.0.2.7", "2001:db8::1"):
        count.leave(address)
    assert (count.open, count.by_address) == (0, {})


# Not 127.0.0.1: `mailhub serve`'s start-up check connects from there, and its session may not have
# ended on the server's side yet when a test starts.
HOARDER, OTHER = "127.0.0.3", "127.0.0.2"


def test_one_address_past_its_share_of_sessions_gets_421_while_other_senders_still_get_in(served, sink):
    env = serve(served, max_sessions_per_ip=5)
    held = [Client(env.port, source=HOARDER) for _ in range(5)]
    try:
        assert [c.reply()[0] for c in held] == [220] * 5
        over = Client(env.port, source=HOARDER)
        code, text = over.reply()
        assert code == 421 and "4.7.0 Too many connections from your address, try again later" in text
        assert over.closed_by_server()
        other = Client(env.port, source=OTHER).greeted()
        assert other.post(mail(subject="From another address"))[0] == 250
        assert other.cmd("QUIT")[0] == 221
    finally:
        for c in held:
            c.close()
    # Once its sessions end, the address gets in again.
    wait_for(lambda: (late := Client(env.port, source=HOARDER)).reply()[0] == 220 and late.cmd("QUIT")[0] == 221,
             what="a place for the address once its sessions have ended")
    assert sink.wait("bob@example.com")[0]["Subject"] == "[mentors] From another address"
    assert [m.rcpt for m in stored(env)] == [POST]
    refusals = [line for line in served.log.read_text().splitlines() if "event=session_refused" in line]
    assert len(refusals) == 1 and TOO_MANY_FROM_ADDRESS in refusals[0] and f"peer={HOARDER}:" in refusals[0]


@pytest.mark.parametrize("limits, answer", [
    ({"data_timeout": 3, "data_min_rate": 1}, "Data took longer than 3 s"),
    ({"data_timeout": 30, "data_min_rate": 2000}, "Data transfer too slow (less than 2000 bytes per second)"),
], ids=["data_timeout", "data_min_rate"])
def test_a_client_dribbling_its_data_gets_421_in_seconds_and_nothing_is_kept(served, figures, limits, answer):
    # Before issue 17 each line of data restarted the idle timeout, so a line a second held a session
    # for as long as the client liked. A head start of 6000 bytes at 2000 bytes/s is 3 s.
    env = serve(served, **limits)
    c = Client(env.port).greeted()
    c.start_data()
    c.send(mail(subject="Dribbled"))
    (code, text), held = c.dribble(b"x\r\n", every=0.2)
    assert code == 421 and f"4.4.2 {DOMAIN} {answer}, closing connection" in text
    assert c.closed_by_server()
    assert 2.5 < held < 5
    assert stored(env) == []
    [line] = [line for line in served.log.read_text().splitlines() if "event=session_closed" in line]
    assert "reason=" in line and "data " in line
    figures(f"a client sending x once every 0.2 s during DATA ({', '.join(f'{k} = {v}' for k, v in limits.items())}): "
            f"421 after {held:.1f} s")


def test_a_mail_at_a_steady_pace_above_the_minimum_rate_still_gets_250(served, sink):
    env = serve(served, data_timeout=6, data_min_rate=2000)
    c = Client(env.port).greeted()
    c.start_data()
    c.send(mail(subject="Steady"))
    began = time.monotonic()
    for i in range(40):  # 250 bytes every 0.1 s, 2500 bytes/s: past the 3 s head start, above the rate
        c.send(f"{i:03d} {'y' * 244}\r\n")
        time.sleep(0.1)
    c.send(".\r\n")
    assert c.reply()[0] == 250
    assert time.monotonic() - began > 3.5
    assert c.post(mail(subject="All at once", body="z" * 900 + "\r\n" * 50))[0] == 250
    subjects = {str(m["Subject"]) for m in sink.wait("bob@example.com", 2)}
    assert subjects == {"[mentors] Steady", "[mentors] All at once"}


def test_a_flood_of_commands_is_stopped_with_421_and_the_connection_closed(env):
    start(env, max_commands=60)  # the least allowed with max_recipients = 50
    flood = Client(env.port).greeted()
    # Harvesting group names: MAIL, then guesses sent ahead without waiting, far past the limit.
    flood.send("MAIL FROM:<probe@example.com>\r\n" + "".join(f"RCPT TO:<guess{i}@{DOMAIN}>\r\n" for i in range(200)))
    assert flood.reply()[0] == 250
    answers = [flood.reply() for _ in range(58)]  # EHLO, MAIL and 58 guesses make 60
    assert {code for code, _ in answers} == {550}
    code, text = flood.reply()
    assert code == 421 and "4.7.0 Too many commands (limit 60 per session)" in text
    assert flood.closed_by_server()
    # The limit is per session: the next one starts from nothing.
    fresh = Client(env.port).greeted()
    assert fresh.post(mail())[0] == 250


def test_an_over_long_command_line_gets_500_and_the_session_goes_on(env, sink):
    start(env)
    c = Client(env.port).greeted()
    for length in (600, 5000):  # past the 512 bytes of RFC 5321 4.5.3.1.4; past the read buffer
        code, text = c.cmd(f"MAIL FROM:<{'a' * length}@example.com>")
        assert code == 500 and "Command line too long" in text
    assert c.post(mail(subject="After the long lines"))[0] == 250
    assert sink.wait("bob@example.com")[0]["Subject"] == "[mentors] After the long lines"


def test_a_long_mail_from_line_allowed_after_ehlo_stays_allowed_when_others_connect(env):
    # aiosmtpd keeps the longer MAIL line EHLO allows (SIZE=, SMTPUTF8) in one dict for all
    # sessions and empties it whenever someone connects; each session now has its own.
    start(env)
    c = Client(env.port).greeted()
    Client(env.port).reply()  # someone else connects
    line = "MAIL FROM:<" + "a" * 490 + "@example.com> SIZE=1000"
    assert 512 < len(line) < 512 + 26
    assert c.cmd(line)[0] == 250


@pytest.mark.parametrize("line_end", [b"\r\n", b"\n"])
def test_a_line_over_998_bytes_is_refused_after_the_data_naming_the_limit_and_nothing_is_kept(env, sink, line_end):
    start(env)
    c = Client(env.port).greeted()
    for long_line in (b"x" * 999, b"y" * 50_000):
        data = mail(subject="Too long", body="first line").replace(b"\r\n", line_end)
        code, text = c.post(data + long_line + line_end)
        assert code == 552 and "5.6.0 Line too long (limit 998 bytes per line" in text
    assert stored(env) == []
    # The limit itself is fine, and the session still works.
    longest = b"z" * 998
    assert c.post(mail(subject="Just fits", body="first line") + longest + b"\r\n")[0] == 250
    assert longest.decode() in text_of(sink.wait("bob@example.com")[0]).splitlines()


def test_a_mail_with_bare_lf_line_ends_is_taken_whole(env, sink):
    # aiosmtpd took LF-only mail as one endless line and refused anything over 1 KB of it with
    # "500 Line too long". Scripts write such mail; like Postfix, mailhub reads LF as a line end.
    start(env)
    body = "\n".join(f"line {i} of a report written by a script" for i in range(100)) + "\n.starts with a dot"
    data = mail(subject="Written with LF", body=body).replace(b"\r\n", b"\n")
    assert len(data) > 4000 and b"\r" not in data
    assert env.send(data, [POST]) == {}  # smtplib sends bytes as they are, stuffing the dot
    [raw] = [m.raw for m in stored(env)]
    assert b"\n" not in raw.replace(b"\r\n", b"")  # stored with CRLF line ends
    lines = text_of(sink.wait("bob@example.com")[0]).splitlines()
    assert lines[:100] == [f"line {i} of a report written by a script" for i in range(100)]
    assert lines[100] == ".starts with a dot"


@pytest.mark.parametrize("false_end", [b"\n.\r\n", b"\r\n.\n", b"\n.\n"])
def test_only_crlf_dot_crlf_ends_the_data_so_no_second_mail_can_be_smuggled_in(env, false_end):
    start(env)
    c = Client(env.port).greeted()
    smuggled = (b"MAIL FROM:<ceo@example.com>\r\nRCPT TO:<" + POST.encode() + b">\r\nDATA\r\n"
                + mail(subject="Smuggled", sender="ceo@example.com"))
    code, _ = c.post(mail(subject="Outer", body="hello") + false_end + smuggled)
    assert code == 250
    assert c.cmd("QUIT")[0] == 221  # the next answer is to QUIT: nothing else was taken as a command
    [message] = stored(env)
    assert b"Subject: Outer" in message.raw and b"Subject: Smuggled" in message.raw  # one mail, as text


def test_size_over_the_limit_gets_552_at_mail_or_after_the_data_and_nothing_is_kept(env, sink):
    start(env)  # max_message_size = 100000 in the tests' config
    c = Client(env.port).greeted()
    code, text = c.cmd("MAIL FROM:<ann@example.com> SIZE=1000000")
    assert code == 552 and "size" in text
    big = mail(subject="Ten times too big", body="a line of seventy characters, repeated until ten times the limit.\r\n"
               * 15_000)
    assert len(big) > 10 * 100_000
    code, text = c.post(big)  # sent without SIZE: all of it goes over the wire
    assert code == 552 and "5.3.4 Message too big (limit 100000 bytes)" in text
    assert stored(env) == []
    # The same session, and a new one, still take mail.
    assert c.post(mail(subject="Small again"))[0] == 250
    assert Client(env.port).greeted().post(mail(subject="From a new session"))[0] == 250
    subjects = {str(m["Subject"]) for m in sink.wait("bob@example.com", 2)}
    assert subjects == {"[mentors] Small again", "[mentors] From a new session"}


RELAY_ATTEMPTS = [
    b"someone@gmail.com",
    POST.encode() + b".evil.com",
    b"mentors@sub." + DOMAIN.encode(),
    b"mentors@[127.0.0.1]",
    b"@relay.example:" + POST.encode(),
    b"@" + DOMAIN.encode() + b":victim@gmail.com",
    b"victim%gmail.com@" + DOMAIN.encode(),
    b"gmail.com!victim@" + DOMAIN.encode(),
    b'"mentors@gmail.com"@' + DOMAIN.encode(),
    b'"mentors"@' + DOMAIN.encode(),
    b"\xffmentors@" + DOMAIN.encode(),  # not UTF-8: the reply still names it
]


def test_relay_attempts_are_refused_at_rcpt_with_550_and_nothing_is_kept(env):
    start(env)
    c = Client(env.port).greeted()
    assert c.cmd("MAIL FROM:<spammer@example.com>")[0] == 250
    replies = {path: c.cmd(b"RCPT TO:<" + path + b">") for path in RELAY_ATTEMPTS}
    refused = {path: code for path, (code, _) in replies.items()}
    assert refused == dict.fromkeys(RELAY_ATTEMPTS, 550)
    assert all("relay access denied" in text for path, (_, text) in replies.items()
               if b'"' not in path and not path.startswith(b"\xff"))
    assert c.cmd("DATA")[0] == 503  # no recipient was taken
    assert stored(env) == []


def test_recipients_past_the_limit_get_452_and_can_be_sent_again_in_a_new_transaction(env):
    env.group("mentees")
    env.group("alumni")
    start(env, max_recipients=2)
    groups = [POST, f"mentees@{DOMAIN}", f"alumni@{DOMAIN}"]
    with smtplib.SMTP("127.0.0.1", env.port, timeout=10) as smtp:
        refused = smtp.sendmail("ann@example.com", groups, mail(message_id="<one@example.com>"))
        assert {rcpt: code for rcpt, (code, _) in refused.items()} == {f"alumni@{DOMAIN}": 452}
        assert b"4.5.3 Too many recipients" in refused[f"alumni@{DOMAIN}"][1]
        # What a sending MTA does with a 452: the rest in another transaction.
        assert smtp.sendmail("ann@example.com", list(refused), mail(message_id="<one@example.com>")) == {}
    assert sorted(m.rcpt for m in stored(env)) == sorted(groups)


def test_the_listener_raises_its_open_files_limit_to_hold_max_sessions():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 2000:
        pytest.skip(f"the hard open-files limit is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (1000, hard))
    try:
        make_room_for_sessions(1500)
        assert resource.getrlimit(resource.RLIMIT_NOFILE) == (1500 + FILES_BESIDES_SESSIONS, hard)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
