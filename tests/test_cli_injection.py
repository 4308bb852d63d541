"""What an admin types, and names and subjects that come in mail, can never add a header (a Bcc,
a second To) to the mail mailhub sends: a line break or control character in a CLI option is
refused with a one-line error, one in a mail header is flattened. Checked on what reaches the
relay (the sink), over SMTP with the real service."""
from __future__ import annotations

import json
import re
from email.header import decode_header, make_header
from email.message import Message as EmailMessage
from pathlib import Path
from typing import Any

from conftest import DOMAIN, Received, mail, text_of, wait_for

POST = f"mentors@{DOMAIN}"
EVIL = "evil@example.net"
# Each could end a header line somewhere: CR, LF, CRLF and a folded continuation, NUL, ESC,
# vertical tab, NEL and the Unicode line separator.
BREAKS = ["\n", "\r", "\r\n", "\r\n ", "\x00", "\x1b", "\x0b", "\x85", "\u2028"]
BAD_VALUES = [f"Hi{b}Bcc: {EVIL}" for b in BREAKS]
BAD_SENDERS = [f"ann@example.com\r\nBcc: {EVIL}", f"ann@example.com\n{EVIL}", "ann@example.com\x00",
               f"ann@example.com, {EVIL}", f"Ann <ann@example.com>\r\nBcc: {EVIL}"]


def assert_one_line_error(result: Any, *fragments: str) -> None:
    """Refused: one line `error: …` (the bad value shown escaped), no traceback; exit 1, or for a
    mistyped command line (a value that is none of an option's choices) exit 2 and a second line
    `try 'mailhub … --help'`."""
    assert result.exit_code in (1, 2), f"exit {result.exit_code}: {result.output!r}"
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    out, *hint = result.output.strip().splitlines()
    assert out.startswith("error: ") and len(hint) == (result.exit_code == 2), repr(result.output)
    assert all(line.startswith("try 'mailhub ") and line.endswith(" --help'") for line in hint), hint
    assert out.isprintable(), repr(out)
    for fragment in fragments:
        assert fragment in out, f"{fragment!r} not in {out!r}"


def as_json(env, *args: str) -> Any:
    return json.loads(env.cli(*args, "--json").output)


def header_names(data: bytes) -> list[str]:
    """The field names of the header block exactly as sent: continuation lines belong to the
    field above them, so an injected field is one that starts a line."""
    head = data.split(b"\r\n\r\n", 1)[0]
    return [line.split(b":", 1)[0].decode().lower() for line in head.split(b"\r\n") if line[:1] not in (b" ", b"\t")]


def decoded(msg: EmailMessage, name: str) -> str:
    """The value a mail program shows: unfolded (RFC 5322 2.2.3), encoded words decoded."""
    unfolded = re.sub(r"\r?\n(?=[ \t])", "", str(msg[name]))
    return str(make_header(decode_header(unfolded)))


def assert_clean(received: list[Received], allowed: set[str]) -> None:
    """No copy has a Bcc or a second To, none went to anyone outside `allowed`, and no header
    value holds a line break once unfolded."""
    assert received
    for r in received:
        assert set(r.rcpt_tos) <= allowed, r.rcpt_tos
        names = header_names(r.data)
        assert "bcc" not in names and names.count("to") == 1 and names.count("from") == 1, names
        msg = r.message
        for name in ("From", "To", "Subject", "List-Id"):
            if msg[name] is not None:
                value = decoded(msg, name)
                assert not any(c in value for c in "\r\n\x0b\x85\u2028"), (name, value)


# ---- options that reach headers ----------------------------------------------------------------

def test_every_option_that_reaches_a_header_refuses_line_breaks_and_control_characters(env, tmp_path: Path):
    env.group("mentors", "ann@example.com", "bob@example.com")
    env.cli("group", "set", "mentors", "--title", "Mentors", "--description", "For mentors",
            "--subject-prefix", "[m]")
    env.cli("member", "set", "mentors", "ann@example.com", "--name", "Ann")
    env.cli("post", "mentors", "--from", "zed@example.net", "--subject", "Held", "--body", "x")  # a non-member
    held = str(as_json(env, "held", "list")[0]["id"])
    before = (as_json(env, "group", "show", "mentors"), as_json(env, "member", "list", "mentors"))
    commands = [
        (("group", "create", "other", "--title"), "--title"),
        (("group", "create", "other", "--description"), "--description"),
        (("group", "set", "mentors", "--title"), "--title"),
        (("group", "set", "mentors", "--description"), "--description"),
        (("group", "set", "mentors", "--subject-prefix"), "--subject-prefix"),
        (("member", "add", "mentors", "new@example.com", "--name"), "--name"),
        (("member", "set", "mentors", "ann@example.com", "--name"), "--name"),
        (("held", "reject", held, "--reason"), "--reason"),
    ]
    tried = 0
    for value in BAD_VALUES:
        for args, option in commands:
            assert_one_line_error(env.cli(*args, value, ok=False), option, "one line")
            tried += 1
        result = env.cli("post", "mentors", "--from", "ann@example.com", "--subject", value, "--body", "x", ok=False)
        assert_one_line_error(result, "--subject")
    for sender in BAD_SENDERS:
        result = env.cli("post", "mentors", "--from", sender, "--subject", "Hi", "--body", "x", ok=False)
        assert_one_line_error(result, "is not a valid mail address")
    assert tried == len(BAD_VALUES) * len(commands)
    assert (as_json(env, "group", "show", "mentors"), as_json(env, "member", "list", "mentors")) == before
    assert [g["name"] for g in as_json(env, "group", "list")] == ["mentors"]
    assert [h["id"] for h in as_json(env, "held", "list")] == [int(held)]
    assert as_json(env, "topics", "mentors") == []
    # A CSV import holds the same names (a spreadsheet cell may hold a line break): those rows are
    # skipped and reported, one line each, and the good one added.
    rows = "".join(f'x{n}@example.com,"{v}",,\n' for n, v in enumerate(BAD_VALUES))
    csv_file = tmp_path / "people.csv"
    csv_file.write_text("email,name,role,delivery\n" + rows + 'y@example.com,Y,"boss\nBcc: x",\n'
                        "ok@example.com,Okay,,\n", encoding="utf-8", newline="")
    result = env.cli("member", "import", "mentors", str(csv_file), ok=False)
    assert result.exit_code == 1 and "added 1 member to" in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == len(BAD_VALUES) + 2 and all(line.startswith(str(csv_file)) for line in lines[:-1]), lines
    names = {m["email"]: m["name"] for m in as_json(env, "member", "list", "mentors")}
    assert set(names) == {"ann@example.com", "bob@example.com", "ok@example.com"}


def test_errors_that_quote_a_bad_value_stay_on_one_line(env):
    env.group("mentors", "ann@example.com")
    for args in (("group", "show", f"mentors\nBcc: {EVIL}"),
                 ("member", "add", "mentors", "new@example.com", "--role", "owner\r\nx"),
                 ("member", "set", "mentors", "ann@example.com", "--timezone", "UTC\nx"),
                 ("group", "set", "mentors", "--rate-limit", "5\n6"),
                 ("group", "set", "mentors", "--include-author", "on\u2028off"),
                 ("digest", "preview", "mentors", "ann@example.com", "--period", "daily\x85")):
        assert_one_line_error(env.cli(*args, ok=False))


def test_copies_and_digests_of_a_post_with_tricky_but_allowed_text_carry_no_added_header(env, sink):
    env.group("mentors", "ann@example.com", "bob@example.com")
    env.cli("member", "add", "mentors", "dig@example.com", "--delivery", "daily", "--name", "Dïg\tDigest")
    env.cli("group", "set", "mentors", "--title", "Mentor\tcircle: Bcc me", "--subject-prefix", "[mentörs]")
    subject = f"Café\tnews: Bcc: {EVIL}"
    body = f"Line one\r\nBcc: {EVIL}\r\nTo: {EVIL}\r\n\r\n.\r\nlast line"
    env.start()
    out = env.cli("post", "mentors", "--from", "ann@example.com", "--subject", subject, "--body", body).output
    assert "1 copy queued" in out  # bob; dig reads by digest
    copy = sink.wait("bob@example.com")[0]
    env.cli("digest", "send", "mentors", "--period", "daily")
    digest = sink.wait("dig@example.com")[0]
    env.drained()
    assert_clean(sink.received, {"bob@example.com", "dig@example.com"})
    assert decoded(copy, "Subject") == f"[mentörs] Café news: Bcc: {EVIL}"
    assert f"Bcc: {EVIL}" in text_of(copy)  # the body's text stays text
    assert "[mentörs]" in decoded(digest, "Subject")
    assert sink.to(EVIL) == []


def test_names_and_subjects_from_mail_cannot_add_a_header_to_any_mail_sent(env, sink):
    env.group("mentors", "ann@example.com")
    env.cli("member", "add", "mentors", "mod@example.com", "--role", "moderator")
    env.start()
    join = f"mentors-join@{DOMAIN}"
    senders = {"ann2@example.com": "=?utf-8?q?Ann=0D=0ABcc:_x?= <ann2@example.com>",
               "dee@example.com": f"=?utf-8?q?Dee=0D=0ABcc=3A_{EVIL.replace('@', '=40')}?= <dee@example.com>"}
    for address, sender in senders.items():
        env.send(mail(sender=sender, to=join, body=""), [join], mail_from=address)
        env.reply(sink.wait(address)[0], "", address)
        wait_for(lambda a=address: any("Welcome" in str(r.message["Subject"]) for r in sink.to(a)),
                 what=f"welcome to {address}")
    names = {m["email"]: m["name"] for m in as_json(env, "member", "list", "mentors")}
    assert "\n" not in names["dee@example.com"] and "\r" not in names["dee@example.com"]
    subject = f"=?utf-8?q?Hello=0D=0ABcc=3A_{EVIL.replace('@', '=40')}=0D=0ATo=3A_{EVIL.replace('@', '=40')}?="
    env.send(mail(sender=senders["dee@example.com"], subject=subject), [POST], mail_from="dee@example.com")
    # A stranger's post with the same tricks is held: the moderator's notice and the sender's note.
    env.send(mail(sender=f"=?utf-8?q?Zed=0D=0ABcc=3A_{EVIL.replace('@', '=40')}?= <zed@example.net>",
                  subject=subject), [POST], mail_from="zed@example.net")
    copy = sink.wait("ann@example.com")[0]
    sink.wait("mod@example.com", 2)  # the copy and the notice
    sink.wait("zed@example.net")
    env.drained()
    assert_clean(sink.received, {"ann@example.com", "ann2@example.com", "dee@example.com", "mod@example.com",
                                 "zed@example.net"})
    assert decoded(copy, "Subject").startswith("[mentors] Hello Bcc:")
    assert sink.to(EVIL) == [] and sink.to("x") == []


def test_control_characters_in_a_posts_from_name_and_subject_add_no_header_and_lose_no_copy(env, sink):
    env.group("mentors", "ann@example.com", "bob@example.com")
    env.start()
    env.send(mail(sender="=?utf-8?q?Ann=00=1B=5B31m=0BBcc=3A_evil=40example=2Enet?= <ann@example.com>",
                  subject="=?utf-8?q?Hi=00there=0B=0CBcc=3A_evil=40example=2Enet?="),
             [POST], mail_from="ann@example.com")
    copy = sink.wait("bob@example.com")[0]
    env.drained()
    assert_clean(sink.received, {"bob@example.com"})
    assert "via mentors" in decoded(copy, "From") and "Hi" in decoded(copy, "Subject")
