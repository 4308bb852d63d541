"""The web pages in their reader's language (issue 20), over real HTTP against the running
service: a page speaks to the person its link names (a member's own setting, else their group's,
else the site's), a confirmation to the person confirming, a held post's page to its group's
moderators; a page whose link names nobody (a 404, any error) takes the browser's
Accept-Language, so it still says nothing of whom a link named. Arabic pages run right to left.

Two tests here read the French and Spanish catalogs' text: they pass once the translators have
filled those catalogs (`test_the_french_pages_say_what_the_french_catalog_says`,
`test_a_404_asked_for_in_spanish_says_what_the_spanish_catalog_says`)."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import DOMAIN, Env, Sink, mail
from sqlalchemy import update
from sqlmodel import select
from test_web import (
    PAGE_LIMIT,
    assert_page,
    database,
    http,
    member_link,
    post,
    token_link,
    web_env,
)

from mailhub.i18n.catalogs import translations
from mailhub.models import Group, Member, Token

POST = f"mentors@{DOMAIN}"
JOIN = f"mentors-join@{DOMAIN}"
ANN, BEA, MOD = "ann@example.com", "bea@example.com", "mod@example.com"
NOWHERE = f"/u/999-{'A' * 27}"  # a well-formed link whose row is not there: a 404 on GET


@pytest.fixture
def web(tmp_path: Path, sink: Sink) -> Iterator[Env]:
    e = web_env(tmp_path, sink)
    yield e
    e.stop()


def set_language(env: Env, model: Any, language: str, *where: Any) -> None:
    """Set `language` on the rows of `model` that match `where`, as `mailhub … set --language` would."""
    with database(env) as session:
        assert session.execute(update(model).where(*where).values(language=language)).rowcount >= 1
        session.commit()


def translated(language: str, msgid: str, **values: str) -> str:
    """What a page in `language` says for `msgid`. Fails while that catalog leaves it English."""
    text = translations(language).gettext(msgid)
    assert text != msgid, f"the '{language}' catalog has no translation of {msgid!r} yet"
    return text % values if values else text


def french_bea(env: Env) -> str:
    """mentors with ann (no setting) and bea (reads French), the service started; bea's link."""
    env.group("mentors", ANN, BEA)
    set_language(env, Member, "fr", Member.email == BEA)
    env.start()
    return member_link(env, BEA)


# ---- whom a page speaks to -----------------------------------------------------------------------

def test_a_member_who_reads_french_gets_their_unsubscribe_pages_in_french(web, sink):
    link = french_bea(web)
    assert_page(http(link), 200, "fr")
    assert_page(http(member_link(web, ANN)), 200, "en")  # the group's others: the site's language
    left = post(link)
    assert_page(left, 200, "fr")  # chosen before bea's row went
    assert members_of(web) == {ANN}


def test_an_arabic_groups_pages_run_right_to_left_and_a_members_own_setting_comes_first(web, sink):
    web.group("mentors", ANN, BEA)
    set_language(web, Group, "ar", Group.name == "mentors")
    set_language(web, Member, "fr", Member.email == BEA)
    web.start()
    page = http(member_link(web, ANN))
    assert_page(page, 200, "ar")
    assert '<html lang="ar" dir="rtl">' in page.text
    assert_page(http(member_link(web, BEA)), 200, "fr")


def test_a_held_posts_page_is_in_its_groups_language_whoever_moderates(web, sink):
    web.group("mentors", ANN)
    web.cli("member", "add", "mentors", MOD, "--role", "moderator")
    set_language(web, Group, "ar", Group.name == "mentors")
    # The link names the held post's token, not a moderator: every moderator shares it.
    set_language(web, Member, "fr", Member.email == MOD)
    web.start()
    body = ("<&>" * 30 + "\r\n") * 100  # escapes to five times its size: the page's size budget holds
    web.send(mail(sender="zed@example.net", subject="Funding", body=body), [POST], mail_from="zed@example.net")
    sink.wait(MOD)
    link = token_link(web, "m", "moderate")
    page = http(link)
    assert_page(page, 200, "ar")
    assert len(page.text.encode()) < PAGE_LIMIT
    assert_page(post(link, {"verdict": "discard"}), 200, "ar")


def test_a_confirmation_page_is_in_the_language_the_joiners_mail_declared(web, sink):
    web.group("mentors", BEA)
    web.start()
    web.send(mail(sender="cy@example.com", to=JOIN, body=""), [JOIN], mail_from="cy@example.com")
    sink.wait("cy@example.com")
    set_language(web, Token, "pt", Token.purpose == "join")
    link = token_link(web, "c", "join")
    assert_page(http(link), 200, "pt")
    assert_page(post(link, {"confirm": "join"}), 200, "pt")


def test_pages_of_a_site_that_writes_portuguese_and_of_links_naming_nobody(tmp_path, sink):
    env = web_env(tmp_path, sink)
    env.edit_config(lambda text: text.replace("[server]\n", '[server]\nlanguage = "pt"\n', 1))
    try:
        link = french_bea(env)
        base = env.config.web.base_url
        assert_page(http(member_link(env, ANN)), 200, "pt")
        assert_page(http(base + NOWHERE), 404, "pt")  # no Accept-Language: the site's
        asked = {"Accept-Language": "de-DE, es;q=0.8, fr;q=0.5"}  # German is not shipped: Spanish
        refused = http(base + NOWHERE, headers=asked)
        assert_page(refused, 404, "es")
        assert refused.headers["Vary"] == "Accept-Language"
        assert_page(http(f"{base}/nothing/here", headers=asked), 404, "es")
        assert_page(http(link, b"", "PUT", headers=asked), 405, "es")
        # bea's link gone bad is a 404 like any other: the browser's language, never bea's.
        post(link)
        assert_page(http(link, headers={"Accept-Language": "en"}), 404, "en")
        assert_page(post(link), 200, "pt")  # a second one-click POST names nobody either
    finally:
        env.stop()


def members_of(env: Env) -> set[str]:
    with database(env) as session:
        return set(session.exec(select(Member.email)).all())


# ---- what the pages say (once the catalogs are translated) ---------------------------------------

def test_the_french_pages_say_what_the_french_catalog_says(web, sink):
    link = french_bea(web)
    page = http(link)
    assert_page(page, 200, "fr")
    assert translated("fr", "Leave %(group)s?", group="mentors") in page.text
    assert translated("fr", "You will get no more mail from this group.") in page.text
    left = post(link)
    assert translated("fr", "You have left %(group)s", group="mentors") in left.text
    assert translated("fr", "To join again, write to %(address)s.", address=JOIN) in left.text


def test_a_404_asked_for_in_spanish_says_what_the_spanish_catalog_says(web, sink):
    web.start()
    reply = http(web.config.web.base_url + NOWHERE, headers={"Accept-Language": "es-MX,es;q=0.9,en;q=0.5"})
    assert_page(reply, 404, "es")
    assert translated("es", "This link does not work") in reply.text
