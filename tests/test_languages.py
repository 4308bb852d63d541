"""Every shipped language end to end, over SMTP to the real service: a stranger's join
confirmation, a help answer, a weekly digest and the list copies come in the reader's language;
commands work in every language; a member's own setting beats the group's."""
from __future__ import annotations

import email.header
import json
import re
from functools import lru_cache

import pytest
from babel.messages.pofile import read_po
from conftest import DOMAIN, mail, text_of

from mailhub.i18n.catalogs import LOCALE, command_word
from mailhub.i18n.languages import NAMES, SHIPPED

POST = f"mentors@{DOMAIN}"
REQUEST = f"mentors-request@{DOMAIN}"
JOIN = f"mentors-join@{DOMAIN}"
SHORTEST = 12  # characters of fixed text a catalog entry needs to be told apart from names and addresses


@lru_cache(maxsize=None)
def patterns(language: str) -> tuple[list[re.Pattern[str]], list[re.Pattern[str]]]:
    """Regular expressions for the catalog's texts as rendered: the translations, and the
    English they replace (placeholders match anything on the line)."""
    with open(LOCALE / ("fr" if language == "en" else language) / "LC_MESSAGES" / "mailhub.po", "rb") as f:
        catalog = read_po(f)

    def pattern(text: str) -> re.Pattern[str] | None:
        pieces = re.split(r"%\(\w+\)[sd]", text.replace("%%", "%"))
        if max(len(p.strip()) for p in pieces) < SHORTEST:
            return None
        return re.compile(r"[^\n]*?".join(re.escape(p) for p in pieces))

    translated, english = [], []
    for m in catalog:
        if not m.id or m.context == "command":
            continue
        ids = [m.id] if isinstance(m.id, str) else list(m.id)
        forms = [m.string] if isinstance(m.string, str) else list(m.string)
        for source, text in zip(ids * len(forms), forms):
            if text and text != source:
                translated += [p for p in [pattern(text)] if p]
                english += [p for p in [pattern(source)] if p]
    return (english, []) if language == "en" else (translated, english)


def assert_in_language(text: str, language: str, least: int = 2) -> None:
    """`text` says at least `least` things in `language` from its catalog, and nothing in
    English from it."""
    own, english = patterns(language)
    said = [p.pattern for p in own if p.search(text)]
    assert len(said) >= least, f"hardly any {language} text in:\n{text}"
    left = [p.pattern for p in english if p.search(text)]
    assert left == [], f"English left in a {language} mail: {left[:3]}\n{text}"


def ask(env, sink, sender: str, body: str, to: str = REQUEST, headers: str = "") -> "object":
    before = len(sink.to(sender))
    env.send(mail(sender=sender, to=to, subject="", body=body, headers=headers), [to], mail_from=sender)
    return sink.wait(sender, before + 1)[before]


def member(env, address: str) -> dict:
    return next(m for m in json.loads(env.cli("member", "list", "mentors", "--json").output) if m["email"] == address)


@pytest.fixture
def group_in(env):
    def make(language: str):
        env.cli("group", "create", "mentors", "--language", language, "--owner", "owner@example.com")
        env.cli("member", "add", "mentors", "bea@example.com")
        env.start()
        return env
    return make


@pytest.mark.parametrize("language", SHIPPED)
def test_a_strangers_join_confirmation_comes_in_the_groups_language(group_in, sink, language):
    env = group_in(language)
    confirmation = ask(env, sink, "zoe@example.com", "", to=JOIN)
    assert confirmation["Content-Language"] == language
    assert_in_language(str(confirmation["Subject"]) + "\n" + text_of(confirmation), language)


@pytest.mark.parametrize("language", SHIPPED)
def test_help_in_ones_own_words_answers_in_the_members_language(group_in, sink, language):
    env = group_in(language)
    word = command_word(language, "help")
    answer = ask(env, sink, "bea@example.com", word)
    text = text_of(answer)
    assert answer["Content-Language"] == language
    assert f"> {word}" in text  # each command is named as it was written
    assert_in_language(text, language)
    for english in ("digest", "daily", "mute", "leave", "language"):
        assert command_word(language, english) in text, f"help does not name '{english}' in {language}"


@pytest.mark.parametrize("language", SHIPPED)
def test_the_weekly_digest_comes_in_the_readers_language(group_in, sink, language):
    env = group_in(language)
    env.cli("member", "set", "mentors", "bea@example.com", "--delivery", "weekly")
    env.cli("member", "add", "mentors", "ann@example.com")
    env.send(mail(subject="Pricing my first product", body="How do I set a price?"), [POST])
    sink.wait("owner@example.com")  # the owner reads every message as it comes
    env.cli("digest", "send", "mentors")
    digest = sink.wait("bea@example.com")[0]
    assert digest["Content-Language"] == language
    assert "Pricing my first product" in text_of(digest)
    assert_in_language(str(digest["Subject"]) + "\n" + text_of(digest), language)
    part = next(p for p in digest.walk() if p.get_content_type() == "text/html")
    html = part.get_payload(decode=True).decode("utf-8")
    assert f'lang="{language}"' in html
    assert ('dir="rtl"' in html) == (language == "ar")


@pytest.mark.parametrize("language", [code for code in SHIPPED if code != "en"])
def test_commands_work_in_every_language_whatever_the_members_setting(group_in, sink, language):
    env = group_in("en")
    line = f"{command_word(language, 'digest')} {command_word(language, 'weekly')}"
    text = text_of(ask(env, sink, "bea@example.com", line))
    assert member(env, "bea@example.com")["delivery"] == "weekly"
    assert f"> {line}" in text
    assert_in_language(text, "en", least=1)  # the answer is in the member's language, not the command's
    text = text_of(ask(env, sink, "bea@example.com", f"{command_word(language, 'language')} {language}"))
    assert member(env, "bea@example.com")["language"] == language
    assert_in_language(text, language, least=1)  # this answer already in the language just chosen


def test_a_members_own_language_beats_the_groups(group_in, sink):
    env = group_in("fr")
    env.cli("member", "add", "mentors", "ana@example.com", "--language", "es")
    env.cli("member", "add", "mentors", "ann@example.com")
    env.send(mail(subject="Question", body="Une question"), [POST])
    spanish, french = sink.wait("ana@example.com")[0], sink.wait("bea@example.com")[0]
    # The footer; in a group that hides addresses one of its sentences is long enough to tell.
    assert_in_language(text_of(spanish), "es", least=1)
    sender = str(email.header.make_header(email.header.decode_header(str(spanish["From"]))))
    assert "vía mentors" in sender, sender  # "Ann via mentors", in the reader's words
    assert_in_language(text_of(french), "fr", least=1)
    assert_in_language(text_of(ask(env, sink, "ana@example.com", "help")), "es")
    assert_in_language(text_of(ask(env, sink, "bea@example.com", "help")), "fr")


def test_a_stranger_gets_the_language_their_mail_declares_and_keeps_it(group_in, sink):
    env = group_in("en")
    confirmation = ask(env, sink, "zoe@example.com", "", to=JOIN, headers="Accept-Language: pt-BR, en;q=0.5\r\n")
    assert confirmation["Content-Language"] == "pt"
    assert_in_language(text_of(confirmation), "pt")
    env.reply(confirmation, "", "zoe@example.com", quote=False)
    welcome = sink.wait("zoe@example.com", 2)[1]
    assert_in_language(text_of(welcome), "pt")
    assert member(env, "zoe@example.com")["language"] == "pt"


def test_an_unknown_language_gets_an_answer_naming_the_shipped_ones(group_in, sink):
    env = group_in("en")
    text = text_of(ask(env, sink, "bea@example.com", "language klingon"))
    assert "klingon" in text
    for code in SHIPPED:
        assert NAMES[code] in text
    assert member(env, "bea@example.com")["language"] is None


def test_digest_preview_shows_the_members_language(group_in, sink):
    env = group_in("en")
    env.cli("member", "set", "mentors", "bea@example.com", "--delivery", "weekly", "--language", "sw")
    env.send(mail(subject="Mkopo wa biashara", body="Nani anajua?", sender="bea@example.com"), [POST],
             mail_from="bea@example.com")
    sink.wait("owner@example.com")  # posted
    preview = env.cli("digest", "preview", "mentors", "bea@example.com").output
    assert "Mkopo wa biashara" in preview
    assert_in_language(preview, "sw")
