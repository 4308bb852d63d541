"""What `mailhub serve` logs: one key=value line per event (received, stored, posted, fanned out,
delivered), with the message id, group and counts an admin greps for; and nothing from outside
(a Message-ID, a subject, an envelope sender) can break a line in two or forge one."""
from __future__ import annotations

import json
import logging
import re
import socket
from pathlib import Path

from conftest import DOMAIN, Sink, mail, wait_for
from mailhub.logs import MAX_VALUE, JsonFormatter, LogfmtFormatter, event
from reliability.served import Served, serving

POST = f"mentors@{DOMAIN}"
ANN = "ann@example.com"
MEMBERS = ["bea@example.com", "cem@example.com", "dan@example.com"]

# ---- reading logfmt back, strictly --------------------------------------------------------------

_PAIR = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)=("(?:[^"\\]|\\.)*"|[^\s"\\=]+)(?: |$)')
_ESCAPE = re.compile(r'\\(x[0-9a-f]{2}|u[0-9a-f]{4}|U[0-9a-f]{8}|.)')
_SIMPLE = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "\\": "\\"}


def _unescape(match: re.Match) -> str:
    code = match.group(1)
    return _SIMPLE[code] if code in _SIMPLE else chr(int(code[1:], 16))


def parse_logfmt(text: str) -> dict[str, str]:
    """Every byte of `text` must be key=value pairs: anything else (a stray quote, a forged
    continuation) fails the test."""
    fields, pos = {}, 0
    while pos < len(text):
        m = _PAIR.match(text, pos)
        assert m, f"not logfmt at {pos}: {text!r}"
        key, raw = m.groups()
        fields[key] = _ESCAPE.sub(_unescape, raw[1:-1]) if raw.startswith('"') else raw
        pos = m.end()
    return fields


def events(log: Path) -> list[dict[str, str]]:
    """The events in a serve log. A line is either all logfmt (ts=… level=… event=…) or, from a
    process still on Python's plain format, a prefix and then the event's own logfmt."""
    found = []
    for line in log.read_text(encoding="utf-8").split("\n"):
        if line.startswith("ts="):
            fields = parse_logfmt(line)
        elif " event=" in line:
            fields = parse_logfmt(line[line.index(" event=") + 1:])
        else:
            continue
        if "event" in fields:
            found.append(fields)
    return found


def named(found: list[dict[str, str]], name: str) -> list[dict[str, str]]:
    return [e for e in found if e["event"] == name]


def delivered(log: Path) -> int:
    return sum(int(e["count"]) for e in named(events(log), "delivered"))


# ---- the formatter alone ------------------------------------------------------------------------

class Lines(logging.Handler):
    def __init__(self, formatter: logging.Formatter) -> None:
        super().__init__()
        self.setFormatter(formatter)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


def logged(formatter: logging.Formatter, name: str = "posted", exc_info: object = None, **fields: object) -> str:
    logger = logging.getLogger(f"test_logs.{id(formatter)}")
    logger.propagate, logger.level = False, logging.DEBUG
    handler = Lines(formatter)
    logger.addHandler(handler)
    try:
        event(logger, name, exc_info=exc_info, **fields)
    finally:
        logger.removeHandler(handler)
    assert len(handler.lines) == 1
    return handler.lines[0]


HOSTILE = {
    "message_id": "<a\r\nts=1 level=info event=forged@x>",
    "subject": 'quote " backslash \\ equals = tab \t end',
    "sender": "<\u2028\x85\x1b[2J\x00\u202eevil@example.com>",  # line separators, ESC, NUL, a bidi override
    "peer": "\udcff\udcfe",  # undecodable bytes as they reach Python
    "group": "mentors",
    "size": 1234,
    "empty": "",
}


def test_hostile_values_stay_on_one_line_and_read_back_exactly():
    line = logged(LogfmtFormatter(), **HOSTILE)
    assert line.isprintable()
    assert len(line.splitlines()) == 1 and "\x1b" not in line and "\u202e" not in line
    line.encode("utf-8")  # a lone surrogate would make the stream handler fail on this line
    fields = parse_logfmt(line)
    assert fields.pop("level") == "info" and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", fields.pop("ts"))
    assert fields == {"event": "posted", **{k: str(v) for k, v in HOSTILE.items()}}


def test_hostile_values_stay_on_one_line_in_json_too():
    line = logged(JsonFormatter(), **HOSTILE)
    assert len(line.splitlines()) == 1 and line.isascii()
    doc = json.loads(line)
    assert {k: doc[k] for k in HOSTILE} == HOSTILE and doc["event"] == "posted"


def test_a_traceback_is_one_line_and_long_values_are_cut():
    try:
        raise ValueError("bad\nthing")
    except ValueError as exc:
        line = logged(LogfmtFormatter(), "process_failed", exc_info=exc, reason="x" * 5000)
    fields = parse_logfmt(line)
    assert len(line.splitlines()) == 1
    assert fields["trace"].startswith("Traceback") and "ValueError: bad\nthing" in fields["trace"]
    assert fields["reason"] == "x" * MAX_VALUE + "…"


# ---- the running service ------------------------------------------------------------------------

def test_a_post_logs_received_stored_posted_fanned_out_and_delivered(tmp_path: Path, sink: Sink):
    with serving(tmp_path, sink) as served:
        served.env.group("mentors", ANN, *MEMBERS)
        served.start()
        data = mail(subject="Welcome week", message_id="<welcome-1@example.com>")
        served.env.send(data, [POST])
        for member in MEMBERS:
            sink.wait(member)
        wait_for(lambda: delivered(served.log) == len(MEMBERS), what="the delivered lines")
        assert served.stop() == 0
    found = events(served.log)
    received, = named(found, "received")
    assert received["message_id"] == "<welcome-1@example.com>" and received["group"] == "mentors"
    assert received["channel"] == "post" and received["sender"] == f"<{ANN}>" and received["size"] == str(len(data))
    stored, = named(found, "stored")
    assert stored["message_id"] == "<welcome-1@example.com>"
    posted, = named(found, "posted")
    assert posted["message_id"] == "<welcome-1@example.com>" and posted["group"] == "mentors"
    assert posted["subject"] == "Welcome week" and posted["topic"].isdigit()
    fanned, = named(found, "fanned_out")
    assert (fanned["message_id"], fanned["group"], fanned["recipients"]) == ("<welcome-1@example.com>", "mentors", "3")
    assert fanned["topic"] == posted["topic"]
    assert not named(found, "deferred") and not named(found, "failed")
    assert "Hi all" not in served.log.read_text()  # never a body


def smtp_raw(port: int, mail_from: bytes, data: bytes) -> bytes:
    """One mail over a socket, exactly as written: smtplib would quote a hostile envelope sender."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        reader = sock.makefile("rb")

        def reply() -> bytes:
            line = reader.readline()
            while line[3:4] == b"-":
                line = reader.readline()
            return line

        reply()
        answers = []
        for command in (b"EHLO test\r\n", b"MAIL FROM:<" + mail_from + b">\r\n", f"RCPT TO:<{POST}>\r\n".encode(),
                        b"DATA\r\n"):
            sock.sendall(command)
            answers.append(reply())
        sock.sendall(data + b".\r\n")
        answers.append(reply())
        sock.sendall(b"QUIT\r\n")
    assert answers[-1].startswith(b"250"), answers
    return answers[-1]


def test_a_hostile_message_id_subject_or_sender_cannot_forge_a_line(tmp_path: Path, sink: Sink):
    forged = "ts=1 level=info event=forged"
    message_id = '<x\x1b[31m"' + "event=forged" + '"\x07@example.com>'  # no spaces: parsers keep it whole
    subject = "=?utf-8?q?Hi=0D=0A" + forged.replace(" ", "_").replace("=", "=3D") + "?="
    sender = f"ann\r{forged.replace(' ', '')}@example.com"
    with serving(tmp_path, sink) as served:
        served.env.group("mentors", ANN, *MEMBERS)
        served.start()
        smtp_raw(served.env.port, sender.encode(), mail(subject=subject, message_id=message_id))
        for member in MEMBERS:
            sink.wait(member)
        wait_for(lambda: delivered(served.log) == len(MEMBERS), what="the delivered lines")
    text = served.log.read_text(encoding="utf-8")
    assert not any(line.startswith("ts=1 ") for line in text.split("\n"))
    assert "\r" not in text and "\x1b" not in text and "\x07" not in text
    found = events(served.log)  # every event line reads back as pairs, or the test fails here
    assert not named(found, "forged")
    received, = named(found, "received")
    assert received["sender"] == f"<{sender}>" and received["message_id"] == message_id
    posted, = named(found, "posted")
    assert posted["message_id"] == message_id
    assert posted["subject"] == "Hi " + forged  # the decoded line break is gone, the words kept


def test_a_large_fan_out_logs_batches_not_recipients(tmp_path: Path, sink: Sink):
    members = [f"reader{i}@example.com" for i in range(400)]
    with serving(tmp_path, sink) as served:
        served.env.group("mentors", ANN)
        csv = tmp_path / "members.csv"
        csv.write_text("email\n" + "\n".join(members) + "\n")
        served.env.cli("member", "import", "mentors", str(csv))
        served.start()
        served.env.send(mail(subject="To everyone"), [POST])
        wait_for(lambda: delivered(served.log) == len(members), timeout=60, what="400 copies delivered")
    found = events(served.log)
    assert named(found, "fanned_out")[0]["recipients"] == str(len(members))
    assert len(named(found, "delivered")) <= len(members) // 10  # at most one line per ~10 copies, not one each


def test_json_logs_carry_the_same_events(tmp_path: Path, sink: Sink):
    with serving(tmp_path, sink, extra='[logging]\nformat = "json"') as served:
        served.env.group("mentors", ANN, *MEMBERS)
        served.start()
        served.env.send(mail(subject="In JSON", message_id="<json-1@example.com>"), [POST])
        sink.wait(MEMBERS[0])
        docs = wait_for(lambda: [d for d in json_lines(served) if d.get("event") == "stored"] and json_lines(served),
                        what="the stored event")
    received = next(d for d in docs if d.get("event") == "received")  # type: ignore[union-attr]
    assert received["message_id"] == "<json-1@example.com>" and received["size"] > 0 and received["level"] == "info"


def json_lines(served: Served) -> list[dict]:
    return [json.loads(line) for line in served.log.read_text().split("\n") if line.startswith("{")]
