"""People are named by name: a member's stored name shows wherever their mail carries none (list
copies' From and footer, digests, `topic show`, held-post notices), the mail's own name wins."""
from __future__ import annotations

import email.utils
import json

import pytest

from conftest import DOMAIN, Env, mail, text_of, wait_for
from mailhub.names import author_name, own_name

POST = f"mentors@{DOMAIN}"


@pytest.fixture
def env(tmp_path, sink):
    e = Env(tmp_path, sink.port)
    # Where addresses are shown; where they are hidden, see test_addresses_hidden.py.
    e.cli("group", "create", "mentors", "--addresses", "shown")
    e.cli("member", "add", "mentors", "ann@example.com", "--name", "Ann Mwangi")
    e.cli("member", "add", "mentors", "cat@example.com")
    yield e
    e.stop()


def copy_from(sink, subject: str, to: str = "cat@example.com"):  # noqa: ANN001, ANN201
    return wait_for(lambda: [m for m in (r.message for r in sink.to(to)) if subject in str(m["Subject"])],
                    what=f"the copy of {subject!r} to {to}")[0]


def test_name_to_show_is_the_mails_own_then_the_members_then_the_local_part():
    assert author_name("Ann M.", "Ann Mwangi", "ann@example.com") == "Ann M."
    assert author_name("", "Ann Mwangi", "ann@example.com") == "Ann Mwangi"
    assert author_name("  ", "", "ann@example.com") == "ann"
    assert author_name("ANN@example.com", "Ann Mwangi", "ann@example.com") == "Ann Mwangi"  # an address is no name
    assert own_name("Ann\t Mwangi", "ann@example.com") == "Ann Mwangi"
    assert author_name("", "", "") == ""


def test_a_post_by_the_cli_names_the_member_by_their_stored_name(env, sink):
    env.cli("post", "mentors", "--from", "ann@example.com", "--subject", "Market day", "--body", "Friday.")
    env.start()
    copy = copy_from(sink, "Market day")
    assert email.utils.parseaddr(copy["From"]) == ("Ann Mwangi via mentors", POST)
    assert "Write to Ann Mwangi privately: ann@example.com" in text_of(copy)
    topic = json.loads(env.cli("topics", "mentors", "--json").output)[0]
    shown = json.loads(env.cli("topic", "show", str(topic["id"]), "--json").output)
    assert [(m["from"], m["name"]) for m in shown["messages"]] == [("ann@example.com", "Ann Mwangi")]


def test_mail_without_a_display_name_from_a_named_member_gets_the_stored_name(env, sink):
    env.start()
    env.send(mail(subject="Bare address", sender="ann@example.com"), [POST], mail_from="ann@example.com")
    copy = copy_from(sink, "Bare address")
    assert email.utils.parseaddr(copy["From"]) == ("Ann Mwangi via mentors", POST)
    assert copy["X-Original-From"] == "ann@example.com"  # the mail's own From, as it came


def test_a_display_name_in_the_mail_wins_and_a_nameless_member_keeps_the_local_part(env, sink):
    env.start()
    env.send(mail(subject="Own name", sender="Annie <ann@example.com>"), [POST], mail_from="ann@example.com")
    assert email.utils.parseaddr(copy_from(sink, "Own name")["From"])[0] == "Annie via mentors"
    env.send(mail(subject="No name", sender="cat@example.com"), [POST], mail_from="cat@example.com")
    copy = copy_from(sink, "No name", to="ann@example.com")
    assert email.utils.parseaddr(copy["From"])[0] == "cat via mentors"
    assert "Write to cat privately: cat@example.com" in text_of(copy)


def test_a_weekly_digest_names_the_author_by_name(env: Env, sink):
    env.cli("member", "add", "mentors", "dee@example.com", "--delivery", "weekly")
    env.start()
    env.send(mail(subject="Pricing a first product", body="What do you charge?", sender="ann@example.com"),
             [POST], mail_from="ann@example.com")
    copy_from(sink, "Pricing a first product")
    env.cli("digest", "send", "mentors")
    digest = wait_for(lambda: [r.message for r in sink.to("dee@example.com") if "digest" in str(r.message["Subject"])],
                      what="dee's digest")[0]
    text = text_of(digest)
    assert "Ann Mwangi" in text and "ann@example.com" not in text


def test_a_held_post_notice_names_the_member(env, sink):
    env.cli("member", "add", "mentors", "mod@example.com", "--role", "moderator")
    env.cli("member", "set", "mentors", "ann@example.com", "--moderated", "on")
    env.start()
    env.send(mail(subject="Please check", sender="ann@example.com"), [POST], mail_from="ann@example.com")
    notice = wait_for(lambda: [m for m in (r.message for r in sink.to("mod@example.com"))
                               if "post to check" in str(m["Subject"])], what="the moderator's notice")[0]
    assert "From:    Ann Mwangi <ann@example.com>" in text_of(notice)
