"""Archives in and out (`mailhub import`, `mailhub export`): an archive threads into the topics live
mail would have made, keeps every byte and date, sends nothing, and comes back out as an mbox
that Python's mailbox (HyperKitty's importer) reads."""
from __future__ import annotations

import gzip
import json
import mailbox
import os
import re
import smtplib
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path
from typing import Any, Iterator

import pytest
from sqlmodel import Session, select

from conftest import DOMAIN, Env, mail, text_of, wait_for
from mailhub.archive import import_mails, read_archive
from mailhub.db import make_engine
from mailhub.models import Group, Message, Outbox, Topic

DATA = Path(__file__).parent / "data" / "threading"
LKML = DATA / "lkml.mbox"
LKML_MAILS, LKML_UNIQUE = 210, 176  # the corpus holds 34 second copies (same Message-ID)
POST = f"mentors@{DOMAIN}"


# ---- helpers -------------------------------------------------------------------------------------

def rd_quote(raw: bytes) -> bytes:
    """mboxrd: one more '>' before every line that starts with >*From ."""
    return re.sub(rb"(?m)^(>*From )", rb">\1", raw)


def rd_unquote(raw: bytes) -> bytes:
    return re.sub(rb"(?m)^>(>*From )", rb"\1", raw)


def python_mailbox(path: Path) -> list[bytes]:
    """Each mail as Python's mailbox (which HyperKitty's importer uses) reads it, quoting undone."""
    box = mailbox.mbox(str(path), create=False)
    try:
        return [rd_unquote(box.get_bytes(key)) for key in box.keys()]
    finally:
        box.close()


def lkml_mails() -> list[bytes]:
    """The corpus as Python's mailbox splits it: the independent reading our import is held to."""
    return python_mailbox(LKML)


def cli_json(env: Env, *args: str) -> Any:
    return json.loads(env.cli(*args, "--json").output)


def partition(env: Env, group: str) -> set[tuple[str, frozenset[str]]]:
    """Each topic of `group` as (subject, the Message-IDs in it), read from the database in one go
    (`topic show` on every topic shows the same, at one CLI run per topic)."""
    with Session(make_engine(env.config.database.url)) as s:
        gid = s.exec(select(Group.id).where(Group.name == group)).one()
        rows = s.exec(select(Topic.id, Topic.subject, Message.message_id).join(Message, Message.topic_id == Topic.id)
                      .where(Topic.group_id == gid)).all()
    topics: dict[tuple[int, str], set[str]] = {}
    for topic_id, subject, message_id in rows:
        topics.setdefault((topic_id, subject), set()).add(message_id)
    return {(subject, frozenset(ids)) for (_, subject), ids in topics.items()}


def message_count(env: Env, group: str) -> int:
    return sum(t["messages"] for t in cli_json(env, "topics", group))


def without_header(raw: bytes, name: bytes) -> bytes:
    head, sep, body = raw.partition(b"\n\n")
    kept = [line for line in head.split(b"\n") if not line.lower().startswith(name.lower() + b":")]
    return b"\n".join(kept) + sep + body


def queue_counts(env: Env) -> dict[str, int]:
    return cli_json(env, "queue")["counts"]


def stored(env: Env, group: str) -> dict[str, bytes]:
    """Message-ID -> raw bytes of the group's posts, straight from the database."""
    with Session(make_engine(env.config.database.url)) as s:
        gid = s.exec(select(Group.id).where(Group.name == group)).one()
        return dict(s.exec(select(Message.message_id, Message.raw).where(Message.group_id == gid)).all())


def import_ok(env: Env, group: str, source: Path) -> str:
    return env.cli("import", group, str(source)).output.strip()


def export(env: Env, group: str, target: Path) -> bytes:
    env.cli("export", group, "--mbox", str(target))
    return target.read_bytes()


def at(days_ago: float, now: datetime | None = None) -> datetime:
    return (now or datetime.now(timezone.utc)).replace(microsecond=0) - timedelta(days=days_ago)


def dated(n: int, subject: str, when: datetime, headers: str = "") -> tuple[bytes, bytes]:
    """A mail written at `when`, with its mbox "From " line."""
    raw = mail(subject=subject, message_id=f"<d{n}@example.com>", body=f"mail {n}", headers=headers)
    return envelope("ann@example.com", when), raw.replace(b"Mon, 23 Nov 2026 10:00:00 +0000",
                                                          format_datetime(when).encode())


def envelope(sender: str, when: datetime, zone_before_year: bool = False) -> bytes:
    stamp = when.strftime("%a %b %d %H:%M:%S")
    return f"From {sender} {stamp} {'+0000 ' if zone_before_year else ''}{when.year}".encode()


def write_mbox(path: Path, entries: list[tuple[bytes, bytes]], eol: bytes = b"\n", quote=rd_quote,
               gz: bool = False) -> Path:
    """(From line, mail) pairs as an mbox with `eol` line ends."""
    data = b"".join(line + eol + quote(raw) + eol for line, raw in entries)
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


# ---- samples as Mailman 3 (HyperKitty) and Google Groups (Takeout) write them --------------------

def mailman_sample(dates: list[datetime]) -> list[tuple[bytes, bytes]]:
    """A HyperKitty export: its "From addr date" lines, Archived-At and List-Id, replies by
    In-Reply-To. Body lines starting with "From " or ">From " come mboxrd-quoted, except one
    that HyperKitty's generator leaves bare ("From Monday on"): it must not split the mail."""
    def hk(n: int, sender: str, name: str, subject: str, when: datetime, body: str, extra: str = "") -> bytes:
        return (f"From: {name} <{sender}>\nTo: mentors@{DOMAIN}\nSubject: {subject}\n"
                f"Date: {format_datetime(when)}\nMessage-ID: <hk{n}@example.com>\n{extra}"
                f"Archived-At: <https://{DOMAIN}/archives/list/mentors@{DOMAIN}/message/HK{n}ABCDEF/>\n"
                f"List-Id: <mentors.{DOMAIN}>\nMIME-Version: 1.0\n"
                f"Content-Type: text/plain; charset=\"utf-8\"\nContent-Transfer-Encoding: 8bit\n\n{body}").encode()
    mails = [
        ("ann@example.com", hk(1, "ann@example.com", "Ann Lee", "[Mentors] Visa letters for the Accra fair", dates[0],
                               "Hello all,\n\nFrom what I hear the embassy wants the letters two weeks ahead.\n"
                               ">From an old mbox, quoted once already.\nGrüße, Ann\n")),
        ("bo@example.com", hk(2, "bo@example.com", "Bo Chen", "Re: [Mentors] Visa letters for the Accra fair",
                              dates[1], "Two weeks is right.\n\nFrom Monday on the office is "
                              "closed, so send them this week.\n\n> From what I hear the embassy\n",
                              extra="In-Reply-To: <hk1@example.com>\n")),
        ("cy@example.com", hk(3, "cy@example.com", "Cy", "[Mentors] Pitch deck review", dates[2],
                              "Who can look at my deck?\n\n")),
        ("ann@example.com", hk(4, "ann@example.com", "Ann Lee", "Re: [Mentors] Pitch deck review",
                               dates[3], "Me! >>From here it looks good.\n",
                               extra="In-Reply-To: <hk3@example.com>\nReferences: <hk3@example.com>\n")),
    ]
    return [(envelope(sender, when), raw) for (sender, raw), when in zip(mails, dates)]


def hyperkitty_quote(raw: bytes) -> bytes:
    """mboxrd, but the "From Monday" line left bare as HyperKitty's generator writes it."""
    return rd_quote(raw).replace(b">From Monday", b"From Monday")


def google_sample(now: datetime, eol: bytes) -> list[tuple[bytes, bytes]]:
    """A Google Takeout mbox of a Google Group: "From <thread id>@xxx" lines with the zone before
    the year, X-GM-THRID and X-Gmail-Labels, Google Groups' list headers, `eol` line ends. Body
    lines that start with "From " are quoted as ">From "."""
    def gg(n: int, thread: str, subject: str, when: datetime, body: str, extra: str = "") -> bytes:
        text = (f"X-GM-THRID: {thread}\nX-Gmail-Labels: Opened,Category Forums,mentors\n"
                f"Delivered-To: ann@example.com\nReceived: by 2002:a05:6a10:1234 with SMTP id x{n};\n"
                f"        {format_datetime(when)}\n"
                f"From: Dee <dee@example.com>\nTo: mentors@googlegroups.com\nSubject: {subject}\n"
                f"Date: {format_datetime(when)}\nMessage-ID: <gg{n}@mail.gmail.com>\n{extra}"
                f"Mailing-list: list mentors@googlegroups.com; contact mentors+owners@googlegroups.com\n"
                f"List-ID: <mentors.googlegroups.com>\nX-Google-Group-Id: 123456789012\n"
                f"Precedence: list\nContent-Type: text/plain; charset=\"UTF-8\"\n\n{body}")
        return text.replace("\n", eol.decode()).encode()
    start = at(20, now)
    return [
        (envelope("1761234567890123456@xxx", start, True),
         gg(1, "1761234567890123456", "Mentor lunch", start, "Lunch on Friday?\nFrom noon.\n")),
        (envelope("1761234567890123457@xxx", start + timedelta(hours=1), True),
         gg(2, "1761234567890123456", "Re: Mentor lunch", start + timedelta(hours=1), "Yes!\n",
            extra="In-Reply-To: <gg1@mail.gmail.com>\nReferences: <gg1@mail.gmail.com>\n")),
    ]


# ---- the same topics as live mail ----------------------------------------------------------------

def send_on_one_connection(env: Env, mails: list[bytes], rcpt: str) -> None:
    with smtplib.SMTP("127.0.0.1", env.port, timeout=30) as smtp:
        for data in mails:
            smtp.sendmail("archive@example.com", [rcpt], data)


def test_importing_lkml_gives_the_topics_threading_it_live_gave(env):
    """The 210 corpus mails go to group `live` over SMTP, in file order, and the file is imported
    into group `archive`: the same Message-IDs end in the same topics with the same subjects.
    The live copies lose their `Precedence: bulk/list` header, which would have them discarded
    as list traffic; threading never reads it."""
    env.group("live", policy="open")
    env.group("archive", policy="open")
    env.start()
    send_on_one_connection(env, [without_header(m, b"Precedence") for m in lkml_mails()], f"live@{DOMAIN}")
    wait_for(lambda: sum(len(ids) for _, ids in partition(env, "live")) == LKML_UNIQUE, timeout=60,
             what="the corpus threaded live")
    summary = import_ok(env, "archive", LKML)
    live, imported = partition(env, "live"), partition(env, "archive")
    assert summary == (f"imported {LKML_UNIQUE} messages into {len(live)} topics; "
                       f"{LKML_MAILS - LKML_UNIQUE} already there; 0 skipped")
    assert imported == live
    assert sum(len(ids) for _, ids in imported) == LKML_UNIQUE
    assert len(live) > 10  # the corpus really has threads to compare


# ---- re-runs ---------------------------------------------------------------------------------------

class Interrupted(Exception):
    pass


def stops_after(mails: Iterator, count: int) -> Iterator:
    """The archive's mails until `count` have been read, then a stop, as Ctrl-C would."""
    for n, item in enumerate(mails):
        if n == count:
            raise Interrupted
        yield item


def test_a_second_import_changes_nothing_and_a_stopped_one_is_finished_by_running_it_again(env, sink, tmp_path):
    env.group("whole", "ann@example.com")
    env.group("stopped")
    env.start()
    assert import_ok(env, "whole", LKML).startswith(f"imported {LKML_UNIQUE} messages")
    before = cli_json(env, "topics", "whole")
    again = import_ok(env, "whole", LKML)
    assert again == f"imported 0 messages into 0 topics; {LKML_MAILS} already there; 0 skipped"
    assert cli_json(env, "topics", "whole") == before
    # Every byte as the file held it, and out again as Python's mailbox reads it.
    originals: dict[str, bytes] = {}
    for raw in lkml_mails():
        originals.setdefault(re.search(rb"(?im)^Message-ID:\s*<([^>]+)>", raw).group(1).decode(), raw)
    assert stored(env, "whole") == originals
    export(env, "whole", tmp_path / "out.mbox")
    assert sorted(python_mailbox(tmp_path / "out.mbox")) == sorted(originals.values())
    # Stopped after 120 mails with batches of 50: the 100 committed stay, the 20 read since are
    # not half-stored, and running it again adds the rest: the topics of the whole import.
    engine = make_engine(env.config.database.url)
    with Session(engine) as s:
        group = s.exec(select(Group).where(Group.name == "stopped")).one()
    with pytest.raises(Interrupted):
        import_mails(engine, env.config, group, stops_after(read_archive(LKML), 120), batch=50)
    kept = len(stored(env, "stopped"))
    assert 0 < kept < LKML_UNIQUE
    assert message_count(env, "stopped") == kept  # every stored mail is in a topic
    assert import_ok(env, "stopped", LKML).startswith(f"imported {LKML_UNIQUE - kept} messages")
    assert partition(env, "stopped") == partition(env, "whole")
    assert queue_counts(env) == {"pending": 0, "sent": 0, "failed": 0}
    assert sink.count() == 0


# ---- Mailman 3 and Google Groups exports, byte for byte -----------------------------------------

def mboxo_quote(raw: bytes) -> bytes:
    return re.sub(rb"(?m)^From ", b">From ", raw)


@pytest.mark.parametrize("flavour", ["mailman3.mbox.gz", "takeout-crlf.mbox", "takeout-lf.mbox"])
def test_mailman_and_google_exports_go_in_and_come_out_byte_for_byte(env, tmp_path, flavour):
    now = datetime.now(timezone.utc)
    if flavour.startswith("mailman"):  # HyperKitty serves its export gzipped
        entries = mailman_sample([at(40, now), at(39.9, now), at(39, now), at(38.9, now)])
        source, topics = write_mbox(tmp_path / flavour, entries, quote=hyperkitty_quote, gz=True), 2
    else:
        eol = b"\r\n" if "crlf" in flavour else b"\n"
        entries = google_sample(now, eol)
        source, topics = write_mbox(tmp_path / flavour, entries, eol=eol, quote=mboxo_quote), 1
    originals = [raw for _, raw in entries]
    env.group("mentors")
    env.group("copy")
    assert import_ok(env, "mentors", source) == \
        f"imported {len(originals)} messages into {topics} topic{'s' if topics != 1 else ''}; 0 already there; 0 skipped"
    assert sorted(stored(env, "mentors").values()) == sorted(originals)
    first = export(env, "mentors", tmp_path / "first.mbox")
    assert python_mailbox(tmp_path / "first.mbox") == originals  # in date order, as they went in
    import_ok(env, "copy", tmp_path / "first.mbox")
    assert export(env, "copy", tmp_path / "second.mbox") == first
    # The same threads; only the subjects differ, as "[Mentors]" is the first group's own prefix.
    assert {ids for _, ids in partition(env, "copy")} == {ids for _, ids in partition(env, "mentors")}


# ---- dates -------------------------------------------------------------------------------------------

def test_the_archive_dates_make_the_order_the_topic_times_and_the_subject_window(env, tmp_path):
    """Mails out of date order in the file are shown in date order with their own dates; a "Re:"
    without references 50 days after its topic went quiet (the window is 30) starts a new topic,
    as it would have live, while one 10 days after joins."""
    base = datetime(2019, 5, 1, 9, 0, tzinfo=timezone.utc)

    source = write_mbox(tmp_path / "dates.mbox", [
        dated(2, "Re: Budget", base + timedelta(days=2), "In-Reply-To: <d1@example.com>\r\n"),  # before its parent
        dated(1, "Budget", base),
        dated(3, "Re: Budget", base + timedelta(days=12)),
        dated(4, "Re: Budget", base + timedelta(days=62)),
    ])
    env.group("mentors")
    assert import_ok(env, "mentors", source).startswith("imported 4 messages into 2 topics")
    topics = cli_json(env, "topics", "mentors")
    assert [(t["subject"], t["messages"], t["created"], t["last_message"]) for t in topics] == [
        ("Budget", 1, "2019-07-02T09:00:00Z", "2019-07-02T09:00:00Z"),
        ("Budget", 3, "2019-05-01T09:00:00Z", "2019-05-13T09:00:00Z"),
    ]
    shown = cli_json(env, "topic", "show", str(topics[1]["id"]))
    assert [(m["message_id"], m["received"]) for m in shown["messages"]] == [
        ("d1@example.com", "2019-05-01T09:00:00Z"), ("d2@example.com", "2019-05-03T09:00:00Z"),
        ("d3@example.com", "2019-05-13T09:00:00Z")]
    text = env.cli("topic", "show", str(topics[1]["id"])).output
    assert text.index("2019-05-01T09:00:00Z") < text.index("2019-05-03T09:00:00Z")


# ---- nothing sent, now or later ----------------------------------------------------------------------

def test_nothing_is_sent_for_imported_mail_and_digests_never_show_it_as_new(env, sink, tmp_path):
    """Members who read every mail, a daily and a weekly digest; the service running. Imported
    mail dated hours and days ago is neither copied nor in any digest; a live reply into an
    imported topic is both, and its digest shows the topic as active, not new."""
    env.group("mentors", "bob@example.com", "cat@example.com")
    env.cli("member", "add", "mentors", "dan@example.com", "--delivery", "daily")
    env.cli("member", "add", "mentors", "eve@example.com", "--delivery", "weekly")
    env.cli("member", "set", "mentors", "eve@example.com", "--role", "mentor")  # sees unanswered topics first
    env.start()
    now = datetime.now(timezone.utc)
    recent = mailman_sample([at(0.2, now), at(0.1, now), at(3, now), at(2.9, now)])
    recent.append(dated(5, "Nobody answered this", at(3, now)))  # unanswered for three days
    source = write_mbox(tmp_path / "recent.mbox", recent)
    assert import_ok(env, "mentors", source) == "imported 5 messages into 3 topics; 0 already there; 0 skipped"
    assert queue_counts(env) == {"pending": 0, "sent": 0, "failed": 0}
    assert "0 digests queued; 2 readers had nothing new" in env.cli("digest", "send", "mentors").output
    # The live path works, so the silence above is not a stopped service.
    topic = next(t for t in cli_json(env, "topics", "mentors") if t["subject"].startswith("Visa"))
    env.send(mail(subject="Re: Visa letters", body="Letters are out today.", sender="bob@example.com",
                  to=topic["reply_address"], message_id="<live@example.com>"), [topic["reply_address"]],
             mail_from="bob@example.com")
    sink.wait("cat@example.com")
    env.cli("digest", "send", "mentors")
    digest_text = {reader: text_of(sink.wait(reader)[0]) for reader in ("dan@example.com", "eve@example.com")}
    env.drained()
    assert {r.message["Message-ID"] for r in sink.received if "digest" not in str(r.message["Subject"])} \
        == {"<live@example.com>"}
    for text in digest_text.values():
        assert "Letters are out today." in text
        assert "Active topics" in text and "Visa letters" in text
        assert "embassy wants the letters" not in text and "Nobody answered this" not in text
        assert "New topics" not in text and "Unanswered" not in text
    with Session(make_engine(env.config.database.url)) as s:
        kinds = s.exec(select(Outbox.kind, Outbox.recipient)).all()
    assert sorted(kinds) == [("copy", "cat@example.com"), ("digest", "dan@example.com"),
                             ("digest", "eve@example.com")]


# ---- Maildir, .eml folders, mails without a Message-ID -------------------------------------------

def test_a_maildir_and_a_folder_of_eml_files_go_in_and_a_mail_without_message_id_is_found_again(env, tmp_path):
    maildir = tmp_path / "Maildir"
    for sub in ("cur", "new", "tmp"):
        (maildir / sub).mkdir(parents=True)
    no_id = b"From: Fay <fay@example.com>\nSubject: No id here\nDate: Tue, 01 Jan 2019 10:00:00 +0000\n\nHi\n"
    reply = mail(subject="Re: Hello", message_id="<m2@example.com>", headers="In-Reply-To: <m1@example.com>\r\n")
    files = {"cur/1546336800.M1P1.host:2,S": mail(message_id="<m1@example.com>"),
             "new/1546336900.M2P1.host": reply, "cur/1546337000.M3P1.host:2,": no_id}
    for name, raw in files.items():
        (maildir / name).write_bytes(raw)
    env.group("mentors")
    assert import_ok(env, "mentors", maildir) == "imported 3 messages into 2 topics; 0 already there; 0 skipped"
    assert sorted(stored(env, "mentors").values()) == sorted(files.values())
    assert import_ok(env, "mentors", maildir) == "imported 0 messages into 0 topics; 3 already there; 0 skipped"
    emls = tmp_path / "emls"
    emls.mkdir()
    for n, raw in enumerate(files.values()):
        (emls / f"{n}.eml").write_bytes(raw)
    (emls / "notes.txt").write_text("not mail")
    env.group("eml")
    assert import_ok(env, "eml", emls) == "imported 3 messages into 2 topics; 0 already there; 0 skipped"
    assert partition(env, "eml") == partition(env, "mentors")


# ---- bad input ------------------------------------------------------------------------------------------

def one_line_error(result: Any, *fragments: str) -> None:
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    for fragment in fragments:
        assert fragment in lines[0], result.output


def test_bad_sources_targets_and_groups_get_a_one_line_error(env, tmp_path):
    env.group("mentors")
    csv_file = tmp_path / "people.csv"
    csv_file.write_text("email\nann@example.com\n")
    empty_folder = tmp_path / "empty"
    empty_folder.mkdir()
    one_line_error(env.cli("import", "mentors", str(csv_file), ok=False), "people.csv", "neither an mbox")
    one_line_error(env.cli("import", "mentors", str(tmp_path / "nope.mbox"), ok=False), "no such file", "nope.mbox")
    one_line_error(env.cli("import", "mentors", str(empty_folder), ok=False), "not a Maildir")
    one_line_error(env.cli("import", "mentrs", str(LKML), ok=False), "no group named 'mentrs'", "mentors")
    one_line_error(env.cli("export", "mentrs", "--mbox", str(tmp_path / "x.mbox"), ok=False), "no group named")
    one_line_error(env.cli("export", "mentors", "--mbox", str(tmp_path / "no" / "x.mbox"), ok=False), "cannot write")
    one_line_error(env.cli("export", "mentors", "--mbox", str(empty_folder), ok=False), "is a folder")
    one_line_error(env.cli("export", "mentors", "--mbox", str(csv_file), ok=False), "exists already", "--force")
    assert csv_file.read_text() == "email\nann@example.com\n"
    env.cli("export", "mentors", "--mbox", str(csv_file), "--force")
    assert csv_file.read_bytes() == b""  # an empty group: an empty mbox
    umask = os.umask(0)
    os.umask(umask)
    assert csv_file.stat().st_mode & 0o777 == 0o666 & ~umask  # like any file the user writes
    assert not list(tmp_path.glob(".*"))  # no temporary file left behind


def test_mails_that_cannot_be_read_are_reported_and_the_rest_go_in(env, tmp_path):
    when = datetime(2020, 2, 3, 4, 5, 6, tzinfo=timezone.utc)
    source = write_mbox(tmp_path / "bad.mbox", [
        (envelope("a@example.com", when), mail(subject="Good one", message_id="<g1@example.com>")),
        (envelope("b@example.com", when), b"\x89PNG\r\n\x1a\n\x00\x00binary junk\n"),
        (envelope("c@example.com", when), b""),
        (envelope("d@example.com", when), mail(subject="Good two", message_id="<g2@example.com>")),
    ])
    env.group("mentors")
    result = env.cli("import", "mentors", str(source), ok=False)
    assert result.exit_code == 1
    assert f"{source}: message 2: not a mail" in result.output
    assert f"{source}: message 3: empty" in result.output
    assert "imported 2 messages into 2 topics; 0 already there; 2 skipped" in result.output
    assert sorted(stored(env, "mentors")) == ["g1@example.com", "g2@example.com"]


def test_a_cut_off_gzipped_archive_keeps_what_came_before_and_says_where_it_stopped(env, tmp_path):
    when = datetime(2020, 2, 3, 4, 5, 6, tzinfo=timezone.utc)
    whole = tmp_path / "list.mbox.gz"
    write_mbox(whole, [(envelope("a@example.com", when), mail(subject=f"Mail {n}", message_id=f"<c{n}@example.com>",
                                                              body=f"{n} " * 2000)) for n in range(40)], gz=True)
    cut = tmp_path / "cut.mbox.gz"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    env.group("mentors")
    result = env.cli("import", "mentors", str(cut), ok=False)
    assert result.exit_code == 1
    kept = len(stored(env, "mentors"))
    assert 0 < kept < 40
    assert f"{cut}: after message {kept}: cannot read on" in result.output
    assert f"imported {kept} messages into {kept} topics; 0 already there; 1 skipped" in result.output
    assert import_ok(env, "mentors", whole) == f"imported {40 - kept} messages into {40 - kept} topics; " \
                                               f"{kept} already there; 0 skipped"
