"""Digests and the footers of list copies in each reader's language: one issue per period, time zone
and language; dates, headings, greetings, footers and command words in it; a right-to-left page for
Arabic. A real database, no server: the digest run, rendering and composing are called directly.

Texts are checked against the catalogs (`translated`), so a test that needs a text a catalog has
not translated yet fails saying which."""
from __future__ import annotations

import email
import shutil
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import quote
from zoneinfo import ZoneInfo

import pytest
from markupsafe import escape
from sqlmodel import Session, select
from typer.testing import CliRunner

from conftest import DOMAIN, free_port, write_config
from mailhub import digest_jobs
from mailhub.cli import app
from mailhub.compose import ListInfo, build_copy
from mailhub.config import REPO_TEMPLATES, Config, load_config
from mailhub.db import make_engine
from mailhub.deliver import Composer, recipients
from mailhub.digest import Reader, Rendered, bodies, compose, prepare
from mailhub.digest_jobs import build, due_members, queue_digests
from mailhub.i18n.catalogs import command_word, local_time, translations
from mailhub.models import DigestIssue, Group, Member, Message, Outbox, Topic, utcnow
from mailhub.signing import Signer, read_private_key
from test_deliverability import KEY, SELECTOR, verifies

# Marks a reader's plain-text program may show as boxes or let reorder the line: none may be sent.
BIDI_CONTROLS = set("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def translated(language: str, msgid: str, **values: object) -> str:
    found = translations(language).gettext(msgid)
    assert found != msgid, f"{msgid!r} has no {language} translation yet"
    return found % values if values else found


def opening(language: str, msgid: str) -> str:
    """A translation's text before its first placeholder."""
    return translated(language, msgid).split("%(")[0]


def translated_plural(language: str, singular: str, plural: str, n: int) -> str:
    found = translations(language).ngettext(singular, plural, n)
    assert found not in (singular, plural), f"{plural!r} has no {language} translation yet"
    return found % {"num": n}


@dataclass
class Site:
    config: Config
    path: Path
    engine: object
    posted: dict[str, datetime]  # subject -> when its first message was posted


def add_post(s: Session, group: Group, topic: Topic, n: int, author: str, when: datetime, text: str) -> Message:
    message = Message(group_id=group.id, channel="post", rcpt=f"mentors@{DOMAIN}", message_id=f"m{n}@example.com",
                      raw=f"From: {author}\r\nSubject: {topic.subject}\r\n\r\n{text}\r\n".encode(), state="posted",
                      from_addr=author, from_name=author.split("@")[0].title(), subject=topic.subject,
                      body_text=text, new_text=text, topic_id=topic.id, posted_at=when, received_at=when)
    s.add(message)
    return message


@pytest.fixture
def site(tmp_path: Path) -> Site:
    """mentors (in Swahili, unless members chose) with weekly readers in French (ann), Arabic (layla)
    and the group's language (bob); one new topic with a reply, one that waits for an answer."""
    url = f"sqlite:///{tmp_path / 'mailhub.db'}"
    path = write_config(tmp_path, free_port(), database=url)
    engine = make_engine(url)
    now = utcnow()
    with Session(engine) as s:
        group = Group(name="mentors", language="sw")
        s.add(group)
        s.flush()
        for address, language in (("ann@example.com", "fr"), ("layla@example.com", "ar"), ("bob@example.com", None)):
            s.add(Member(group_id=group.id, email=address, name=address.split("@")[0].title(), delivery="weekly",
                         token=f"tok-{address.split('@')[0]}", language=language))
        baskets = Topic(group_id=group.id, key="k3f9a", subject="Pricing handmade baskets", message_count=2)
        radio = Topic(group_id=group.id, key="r4d10", subject="Radio adverts that worked", message_count=1)
        s.add_all([baskets, radio])
        s.flush()
        add_post(s, group, baskets, 1, "bob@example.com", now - timedelta(days=2), "How do I price them?")
        add_post(s, group, baskets, 2, "cat@example.com", now - timedelta(days=1), "Count your hours first.")
        add_post(s, group, radio, 3, "bob@example.com", now - timedelta(days=3), "Did radio work for you?")
        s.commit()
    return Site(load_config(path), path, engine, {"Pricing handmade baskets": now - timedelta(days=2),
                                                  "Radio adverts that worked": now - timedelta(days=3)})


def digest_for(site: Site, address: str) -> tuple[Rendered, Reader, ZoneInfo]:
    """The issue `address` would get now, and them as a reader of it."""
    with Session(site.engine) as s:
        group = s.exec(select(Group)).one()
        due = next(d for d in due_members(s, site.config, group, utcnow(), "weekly", manual=True)
                   if d.member.email == address)
        rendered = build(s, site.config, group, due, quiet_note=False)
        reader = recipients(s, {due.member.id}, site.config.server.language)[due.member.id]
    assert rendered is not None
    return rendered, reader, ZoneInfo(due.zone)


def mail_of(site: Site, rendered: Rendered, reader: Reader) -> email.message.Message:
    return email.message_from_bytes(compose(site.config.templates, 1, rendered.subject, prepare(rendered.parts),
                                            reader))


# ---- who reads which language ------------------------------------------------------------------

def test_readers_of_one_period_get_one_issue_per_language_from_one_reading_of_it(site, monkeypatch):
    gathered = []
    real = digest_jobs.gather
    monkeypatch.setattr(digest_jobs, "gather", lambda *args: gathered.append(args) or real(*args))
    assert queue_digests(site.engine, site.config, now=utcnow(), group_name="mentors", manual=True).queued == 3
    with Session(site.engine) as s:
        issues = s.exec(select(DigestIssue)).all()
        rows = s.exec(select(Outbox).where(Outbox.kind == "digest")).all()
    assert sorted(i.parts["info"]["language"] for i in issues) == ["ar", "fr", "sw"]  # bob: the group's
    assert len(rows) == 3 and len({r.digest_pk for r in rows}) == 3
    assert len(gathered) == 1  # the period is read once, whatever the languages


def test_a_reader_without_a_language_reads_the_groups_else_the_sites(site):
    with Session(site.engine) as s:
        group = s.exec(select(Group)).one()
        group.language = None
        s.add(group)
        s.commit()
        config = replace(site.config, server=replace(site.config.server, language="es"))
        due = {d.member.email: d.language for d in due_members(s, config, group, utcnow(), "weekly", manual=True)}
        readers = recipients(s, {m.id for m in s.exec(select(Member)).all()}, "es")
    assert due == {"ann@example.com": "fr", "layla@example.com": "ar", "bob@example.com": "es"}
    assert {r.email: r.language for r in readers.values()} == due


# ---- a French reader ---------------------------------------------------------------------------

def test_a_french_digest_shows_times_the_french_way_and_says_its_language(site):
    rendered, reader, zone = digest_for(site, "ann@example.com")
    assert rendered.parts["info"]["language"] == "fr" and reader.language == "fr"
    text, page = bodies(site.config.templates, rendered.parts, reader, frozenset())
    started = site.posted["Pricing handmade baskets"]
    assert local_time(started, zone, "fr") in text and local_time(started, zone, "fr") in page  # "dim. 29 nov. 10:05"
    assert local_time(started, zone, "en") not in text
    assert f"?subject={quote(command_word('fr', 'mute') + ' k3f9a')}" in text
    assert f"?subject={quote(command_word('fr', 'digest') + ' ' + command_word('fr', 'daily'))}" in page
    assert 'lang="fr" dir="ltr"' in page
    assert mail_of(site, rendered, reader)["Content-Language"] == "fr"


def test_a_french_reader_gets_headings_greeting_counts_and_footer_in_french(site):
    rendered, reader, _ = digest_for(site, "ann@example.com")
    text, page = bodies(site.config.templates, rendered.parts, reader, frozenset())
    info = rendered.parts["info"]
    for heading in ("New topics", "Unanswered — can you help?", "New members"):
        assert f"== {translated('fr', heading)} ==" in text and str(escape(translated("fr", heading))) in page
    assert translated("fr", "Hello %(name)s,", name="Ann") in text
    assert translated("fr", "New topic: %(address)s", address=f"mentors@{DOMAIN}") in text
    assert translated_plural("fr", "%(num)s new topic", "%(num)s new topics", info["new_topics"]) in text
    assert opening("fr", "Weekly digest: %(counts)s") in rendered.subject


# ---- an Arabic reader --------------------------------------------------------------------------

def test_an_arabic_digest_is_right_to_left_in_html_and_plain_in_text(site):
    rendered, reader, zone = digest_for(site, "layla@example.com")
    text, page = bodies(site.config.templates, rendered.parts, reader, frozenset())
    assert '<html lang="ar" dir="rtl">' in page and '<div dir="rtl"' in page and "direction:rtl" in page
    assert not BIDI_CONTROLS & set(text), "the text part must read in any plain-text program"
    started = site.posted["Radio adverts that worked"]
    assert local_time(started, zone, "ar") in text  # "الجمعة، 27 نوفمبر 10:05"
    sent = mail_of(site, rendered, reader)
    assert sent["Content-Language"] == "ar"


def test_an_arabic_reader_gets_headings_and_buttons_in_arabic(site):
    rendered, reader, _ = digest_for(site, "layla@example.com")
    text, page = bodies(site.config.templates, rendered.parts, reader, frozenset())
    for heading in ("New topics", "Unanswered — can you help?"):
        assert f"== {translated('ar', heading)} ==" in text and str(escape(translated("ar", heading))) in page
    assert str(escape(translations("ar").pgettext("button", "Reply"))) in page
    assert translations("ar").pgettext("button", "Reply") != "Reply"
    assert opening("ar", "Weekly digest: %(counts)s") in rendered.subject


def test_the_preview_shows_the_members_language(site):
    result = CliRunner().invoke(app, ["digest", "preview", "mentors", "ann@example.com", "--config", str(site.path)])
    assert result.exit_code == 0, result.output
    rendered, _, zone = digest_for(site, "ann@example.com")
    assert local_time(site.posted["Pricing handmade baskets"], zone, "fr") in result.output
    assert result.output.startswith(f"Subject: {rendered.subject}\n")


# ---- list copies -------------------------------------------------------------------------------

INFO = ListInfo(name="mentors", title="", domain=DOMAIN, prefix="[mentors]", from_rewrite=True,
                topic_key="k3f9a", message_id="m1@example.com", number=1, max_attachment_size=10)
ATTACHED = (b"From: Ann <ann@example.com>\r\nSubject: Report\r\nMIME-Version: 1.0\r\n"
            b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nSee the file.\r\n'
            b"--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=report.pdf\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\n" + b"QUJD" * 50 + b"\r\n--b--\r\n")


def test_a_copys_footer_and_attachment_lines_come_in_the_readers_language():
    for plain in (False, True):
        copy = email.message_from_bytes(build_copy(ATTACHED, INFO, REPO_TEMPLATES, plain, "fr")
                                        .for_recipient(f"mentors-leave+tok@{DOMAIN}"))
        text = "\n".join(p.get_payload(decode=True).decode() for p in copy.walk() if p.get_content_type() == "text/plain")
        assert translated("fr", "Reply to this email to answer in this topic.") in text
        assert translated("fr", "Leave %(group)s: %(address)s", group="mentors",
                          address=f"mentors-leave@{DOMAIN}") in text
        assert f'{command_word("fr", "get")} {command_word("fr", "attachment")} 1.2' in text
        assert opening("fr", "Attachment not included: %(name)s (%(type)s, %(size)s)") in text


def test_copies_in_two_languages_are_each_signed_for_their_own_body(site, tmp_path):
    # A footer that names its language: the French and Swahili bodies differ, whatever the catalogs hold.
    templates = tmp_path / "templates"
    shutil.copytree(REPO_TEMPLATES, templates)
    (templates / "footer.txt").write_text((templates / "footer.txt").read_text() + "({{ lang }})\n")
    config = replace(site.config, templates=templates)
    signer = Signer(DOMAIN, SELECTOR, read_private_key(KEY))
    with Session(site.engine) as s:
        message = s.exec(select(Message).where(Message.message_id == "m1@example.com")).one()
        members = recipients(s, {m.id for m in s.exec(select(Member)).all()}, config.server.language)
        composer = Composer(s, config, signer, secret=b"")
        sent = {}
        for n, reader in enumerate(sorted(members.values()), 1):
            row = Outbox(id=n, key=f"copy:{n}", kind="copy", message_pk=message.id, member_id=reader.member_id,
                         group_id=message.group_id, recipient=reader.email)
            sent[reader.language] = composer.job(row, members, {}).wire()
    assert set(sent) == {"fr", "ar", "sw"}
    for language, data in sent.items():
        assert f"({language})".encode() in data and verifies(data), language
