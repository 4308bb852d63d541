"""The web listener for links in mail (issue 19), over real HTTP against the running service and
real SMTP into the sink: one-click unsubscribe (RFC 8058), confirming a join, deciding a held
post. A GET never changes anything; a link that is not good is one 404 page for every reason."""
from __future__ import annotations

import json
import logging
import socket
import urllib.error
import urllib.parse
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Iterator, Optional

import pytest
from conftest import DOMAIN, Env, Sink, free_port, mail, text_of, wait_for
from sqlalchemy import update
from sqlmodel import Session, select

from mailhub import links
from mailhub.db import make_engine
from mailhub.models import Member, Token, utcnow
from mailhub.web.limits import client_address

POST = f"mentors@{DOMAIN}"
JOIN = f"mentors-join@{DOMAIN}"
ONE_CLICK = b"List-Unsubscribe=One-Click"  # RFC 8058's body
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
PAGE_LIMIT = 10 * 1024


def web_env(folder: Path, sink: Sink, per_minute: int = 1000, port: Optional[int] = None) -> Env:
    port = port or free_port()
    return Env(folder, sink.port, extra=f"""
[web]
listen = "127.0.0.1:{port}"
base_url = "http://127.0.0.1:{port}"
requests_per_minute = {per_minute}
""")


@pytest.fixture
def web(tmp_path: Path, sink: Sink) -> Iterator[Env]:
    e = web_env(tmp_path, sink)
    yield e
    e.stop()


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    text: str


_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never through an http_proxy


def http(url: str, data: Optional[bytes] = None, method: Optional[str] = None,
         headers: Optional[dict[str, str]] = None) -> Reply:
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with _opener.open(request, timeout=10) as response:
            return Reply(response.status, dict(response.headers), response.read().decode())
    except urllib.error.HTTPError as exc:
        return Reply(exc.code, dict(exc.headers), exc.read().decode())


def post(url: str, body: bytes | dict[str, str] = ONE_CLICK) -> Reply:
    data = urllib.parse.urlencode(body).encode() if isinstance(body, dict) else body
    return http(url, data, "POST", FORM)


@contextmanager
def database(env: Env) -> Iterator[Session]:
    engine = make_engine(env.config.database.url, create=False)
    try:
        with Session(engine) as session:
            yield session
    finally:
        engine.dispose()


def member_link(env: Env, email: str) -> str:
    """The one-click link of a member's copies, built from the member's own token."""
    with database(env) as session:
        member = session.exec(select(Member).where(Member.email == email)).one()
        return links.url(env.config, links.site_secret(session), links.UNSUBSCRIBE, member.id, member.token)


def token_link(env: Env, kind: str, purpose: str) -> str:
    with database(env) as session:
        token = session.exec(select(Token).where(Token.purpose == purpose)).one()
        return links.url(env.config, links.site_secret(session), kind, token.id, token.token)


def members(env: Env) -> set[str]:
    return {m["email"] for m in json.loads(env.cli("member", "list", "mentors", "--json").output)}


def assert_page(reply: Reply, status: int, language: str = "en") -> None:
    """A small page of our own, in `language`: no script, no traceback, and every page's headers."""
    assert reply.status == status, (reply.status, reply.text)
    assert reply.headers["Content-Type"] == "text/html; charset=utf-8"
    direction = "rtl" if language == "ar" else "ltr"
    assert reply.text.startswith(f'<!doctype html>\n<html lang="{language}" dir="{direction}">'), reply.text[:80]
    assert reply.headers["Content-Language"] == language
    assert len(reply.text.encode()) < PAGE_LIMIT
    assert "<script" not in reply.text.lower() and "Traceback" not in reply.text and "aiohttp" not in reply.text
    assert reply.headers["Content-Security-Policy"].startswith(
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'")
    assert reply.headers["Referrer-Policy"] == "no-referrer"
    assert reply.headers["Cache-Control"] == "no-store" and reply.headers["X-Robots-Tag"] == "noindex"


# ---- unsubscribe ---------------------------------------------------------------------------------

def test_get_of_an_unsubscribe_link_changes_nothing_and_one_click_post_unsubscribes(web, sink, caplog):
    web.group("mentors", "ann@example.com", "bea@example.com")
    web.cli("group", "set", "mentors", "--title", "Mentors of the 2026 cohort")
    web.start()
    link = member_link(web, "bea@example.com")
    assert link.startswith(f"{web.config.web.base_url}/u/")

    page = http(link)  # what a mail scanner, or a person having a look, does
    assert_page(page, 200)
    assert "Leave mentors?" in page.text and "Mentors of the 2026 cohort" in page.text
    assert '<form method="post">' in page.text
    assert '<input type="hidden" name="List-Unsubscribe" value="One-Click">' in page.text
    assert http(link, method="HEAD").status == 200
    web.drained()
    assert members(web) == {"ann@example.com", "bea@example.com"} and sink.count() == 0

    with caplog.at_level(logging.INFO, logger="mailhub.web"):
        done = post(link)  # what a mail provider's unsubscribe button does (RFC 8058)
    assert_page(done, 200)
    assert any("event=web_unsubscribed group=mentors member=bea@example.com peer=127.0.0.1" in r.getMessage()
               for r in caplog.records)
    assert "You have left mentors" in done.text
    assert members(web) == {"ann@example.com"}
    assert sink.wait("bea@example.com")[0]["Subject"] == "You left mentors"  # the mail path's goodbye

    again = post(link)  # a provider retrying, a second tap: harmless, 2xx, names nobody
    assert_page(again, 200)
    assert "Nothing to do" in again.text and "mentors" not in again.text
    assert http(link).status == 404  # a person opening the old link sees it no longer works
    web.drained()
    assert len(sink.to("bea@example.com")) == 1 and members(web) == {"ann@example.com"}


def test_the_unsubscribe_form_as_a_browser_posts_it_works_too(web, sink):
    web.group("mentors", "ann@example.com")
    web.start()
    link = member_link(web, "ann@example.com")
    boundary = "----form7f3a"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"List-Unsubscribe\"\r\n\r\nOne-Click\r\n"
            f"--{boundary}--\r\n").encode()
    done = http(link, body, "POST", {"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert_page(done, 200)
    assert "You have left mentors" in done.text and members(web) == set()


def test_forged_moved_wrong_kind_and_expired_links_all_404_alike_and_act_on_nothing(web, sink):
    web.group("mentors", "ann@example.com", "bea@example.com")
    web.start()
    web.send(mail(sender="cy@example.com", to=JOIN, body=""), [JOIN], mail_from="cy@example.com")
    sink.wait("cy@example.com")  # the confirmation: cy has a join token now
    base = web.config.web.base_url
    with database(web) as session:
        secret = links.site_secret(session)
        ann = session.exec(select(Member).where(Member.email == "ann@example.com")).one()
        bea = session.exec(select(Member).where(Member.email == "bea@example.com")).one()
        join = session.exec(select(Token).where(Token.purpose == "join")).one()
        ann_mac = links.mac(secret, "u", ann.id, ann.token)
        confirm_mac = links.mac(secret, "c", join.id, join.token)
        bad = [
            f"{base}/u/{ann.id}-{'A' * 27}",  # a made-up MAC
            f"{base}/u/{bea.id}-{ann_mac}",  # ann's MAC moved to bea's row
            f"{base}/u/{join.id}-{confirm_mac}",  # a confirmation link used as an unsubscribe link
            f"{base}/m/{join.id}-{confirm_mac}",  # … and as a held post's
            f"{base}/u/{ann.id}-{links.mac(b'another installation', 'u', ann.id, ann.token)}",
            f"{base}/u/not-a-token",
        ]
        assert join.id in (ann.id, bea.id)  # so the confirmation link used as `u` names a member's row
    pages = set()
    for url in bad:
        for reply in (http(url), post(url, b"List-Unsubscribe=One-Click&verdict=approve&confirm=join")):
            assert_page(reply, 404)
            pages.add(reply.text)
    assert len(pages) == 1  # one page for every reason: it tells nobody whom a link named

    confirm = f"{base}/c/{join.id}-{confirm_mac}"
    assert http(confirm).status == 200  # good, until it expires
    with database(web) as session:
        session.execute(update(Token).where(Token.id == join.id).values(expires_at=utcnow() - timedelta(minutes=1)))
        session.commit()
    assert_page(http(confirm), 404)
    assert_page(post(confirm, {"confirm": "join"}), 404)
    assert http(confirm).text in pages
    web.drained()
    assert members(web) == {"ann@example.com", "bea@example.com"}
    assert sink.count() == 1  # cy's confirmation, nothing else


def test_a_one_click_post_for_a_row_that_is_gone_answers_nothing_to_do(web, sink):
    web.group("mentors", "ann@example.com")
    web.start()
    reply = post(f"{web.config.web.base_url}/u/999-{'A' * 27}")
    assert_page(reply, 200)
    assert "Nothing to do" in reply.text
    assert http(f"{web.config.web.base_url}/u/999-{'A' * 27}").status == 404
    web.drained()
    assert members(web) == {"ann@example.com"} and sink.count() == 0


# ---- confirmations and held posts ---------------------------------------------------------------

def test_a_join_is_confirmed_by_link_get_shows_a_button_post_joins(web, sink):
    web.group("mentors", "bea@example.com")
    web.start()
    web.send(mail(sender="Cy Otieno <cy@example.com>", to=JOIN, body=""), [JOIN], mail_from="cy@example.com")
    sink.wait("cy@example.com")
    link = token_link(web, "c", "join")

    page = http(link)
    assert_page(page, 200)
    assert "Join mentors?" in page.text and '<form method="post">' in page.text and "<button" in page.text
    assert members(web) == {"bea@example.com"}

    done = post(link, {"confirm": "join"})
    assert_page(done, 200)
    assert "You have joined mentors" in done.text
    assert members(web) == {"bea@example.com", "cy@example.com"}
    assert "Welcome to mentors" in [m["Subject"] for m in sink.wait("cy@example.com", 2)]
    assert_page(post(link, {"confirm": "join"}), 404)  # used up, like the token address


def test_a_held_post_is_shown_escaped_and_approved_by_link(web, sink):
    web.group("mentors", "ann@example.com", "bea@example.com")
    web.cli("member", "add", "mentors", "mod@example.com", "--role", "moderator")
    web.start()
    body = "Does anyone know <b>a grant</b> for rural bakeries?\r\n" + ("<&>" * 30 + "\r\n") * 100
    web.send(mail(sender="Zed Stranger <zed@example.net>", subject="Funding <question>", body=body), [POST],
             mail_from="zed@example.net")
    sink.wait("mod@example.com")  # the notice: the post is held
    link = token_link(web, "m", "moderate")

    page = http(link)
    assert_page(page, 200)  # under 10 KB, with 9000 characters that escape to 4 or 5 bytes each
    assert "Funding &lt;question&gt;" in page.text and "zed@example.net" in page.text
    assert "Does anyone know &lt;b&gt;a grant&lt;/b&gt;" in page.text and "<b>" not in page.text
    assert page.text.count('<form method="post">') == 3
    for verdict in ("approve", "reject", "discard"):
        assert f'name="verdict" value="{verdict}"' in page.text
    web.drained()
    assert sink.to("ann@example.com") == []

    done = post(link, {"verdict": "approve"})
    assert_page(done, 200)
    assert "Approved" in done.text
    assert sink.wait("ann@example.com")[0]["Subject"] == "[mentors] Funding <question>"
    sink.wait("bea@example.com")
    assert json.loads(web.cli("held", "list", "--json").output) == []

    again = post(link, {"verdict": "discard"})  # another moderator, a moment later
    assert_page(again, 200)
    assert "Decided already" in again.text and "approved by a moderator on the web" in again.text
    assert "Decided already" in http(link).text
    web.drained()
    assert len(sink.to("ann@example.com")) == 1


def test_a_held_post_rejected_by_link_tells_the_sender_the_reason(web, sink):
    web.group("mentors", "ann@example.com")
    web.cli("member", "add", "mentors", "mod@example.com", "--role", "moderator")
    web.start()
    web.send(mail(sender="zed@example.net", subject="Cheap loans"), [POST], mail_from="zed@example.net")
    sink.wait("mod@example.com")
    done = post(token_link(web, "m", "moderate"), {"verdict": "reject", "reason": "This group is for members."})
    assert_page(done, 200)
    assert "Rejected" in done.text
    told = sink.wait("zed@example.net", 2)[1]
    assert "was not posted" in told["Subject"] and "This group is for members." in text_of(told)


# ---- what else comes over HTTP ------------------------------------------------------------------

def test_health_and_every_error_is_a_small_page_never_a_traceback(web, sink):
    web.group("mentors", "ann@example.com")
    web.start()
    base, link = web.config.web.base_url, member_link(web, "ann@example.com")

    health = http(f"{base}/health")
    assert (health.status, health.text, health.headers["Content-Type"]) == (200, "ok", "text/plain; charset=utf-8")
    assert_page(http(f"{base}/wp-login.php"), 404)
    assert_page(http(f"{base}/x/1-{'A' * 27}"), 404)
    moved = http(link, b"", "PUT", FORM)
    assert_page(moved, 405)
    assert set(moved.headers["Allow"].split(",")) == {"GET", "HEAD", "POST"}
    assert_page(http(f"{base}/health", b"", "POST", FORM), 405)
    assert_page(post(link, b"List-Unsubscribe=One-Click&pad=" + b"x" * 5000), 413)
    assert_page(post(link, b"unsubscribe=yes"), 400)  # not RFC 8058's body
    assert_page(http(link, ONE_CLICK, "POST", {"Content-Type": "application/json"}), 400)
    assert_page(post(link.replace("/u/", "/m/"), {"verdict": "delete everything"}), 400)
    web.drained()
    assert members(web) == {"ann@example.com"} and sink.count() == 0


def test_a_failing_handler_answers_500_and_logs_the_trace(web, sink, monkeypatch, caplog):
    web.group("mentors", "ann@example.com")
    web.start()

    def broken(*args: object) -> None:
        raise RuntimeError("the database said something private")
    monkeypatch.setattr("mailhub.web.actions.Actions.show", broken)
    with caplog.at_level(logging.INFO, logger="mailhub.web"):
        reply = http(member_link(web, "ann@example.com"))
    assert_page(reply, 500)
    assert "Something went wrong" in reply.text and "private" not in reply.text
    failed = [r for r in caplog.records if "event=web_failed" in r.getMessage()]
    assert failed and failed[0].exc_info is not None and "route=/{kind}/{token}" in failed[0].getMessage()
    assert http(f"{web.config.web.base_url}/health").text == "ok"  # the listener goes on


def test_rate_limit_per_client_honours_forwarded_for_only_from_the_local_proxy(tmp_path, sink):
    env = web_env(tmp_path, sink, per_minute=3)
    try:
        env.start()
        health = f"{env.config.web.base_url}/health"
        proxied = {"X-Forwarded-For": "198.51.100.7, 203.0.113.9"}  # the proxy added the last one
        assert [http(health, headers=proxied).status for _ in range(3)] == [200, 200, 200]
        refused = http(health, headers=proxied)
        assert_page(refused, 429)
        assert 1 <= int(refused.headers["Retry-After"]) <= 20
        assert http(health, headers={"X-Forwarded-For": "203.0.113.10"}).status == 200  # another client
        assert http(health).status == 200  # the proxy's own address is a client of its own
    finally:
        env.stop()
    # Only the proxy on this host may say who the client is; the last hop is the one it added.
    assert client_address("127.0.0.1", ["198.51.100.7, 203.0.113.9"]) == "203.0.113.9"
    assert client_address("::1", ["203.0.113.9", "2001:db8::5"]) == "2001:db8::/64"
    assert client_address("192.0.2.4", ["203.0.113.9"]) == "192.0.2.4"
    assert client_address("127.0.0.1", ["not an address"]) == "127.0.0.1"
    assert client_address("::ffff:192.0.2.4") == "192.0.2.4"


def test_a_taken_web_port_costs_no_mail_and_the_listener_comes_up_when_it_frees(tmp_path, sink, caplog,
                                                                                monkeypatch):
    monkeypatch.setattr("mailhub.web.listener.FIRST_RETRY", 0.2)  # 1 s, 2 s, 4 s … 60 s in service
    monkeypatch.setattr("mailhub.web.listener.LAST_RETRY", 0.5)
    port = free_port()
    squatter = socket.socket()
    squatter.bind(("127.0.0.1", port))
    squatter.listen()
    env = web_env(tmp_path, sink, port=port)
    try:
        env.group("mentors", "ann@example.com", "bea@example.com")
        with caplog.at_level(logging.INFO, logger="mailhub.web"):
            env.start()
            assert any("event=web_failed" in r.getMessage() and f"listen=127.0.0.1:{port}" in r.getMessage()
                       for r in caplog.records)
            env.send(mail(sender="ann@example.com"), [POST], mail_from="ann@example.com")
            assert sink.wait("bea@example.com")[0]["Subject"] == "[mentors] Hello"  # mail goes on
            checks = json.loads(env.cli("check", "--json", ok=False).output)["checks"]
            web_line = next(c for c in checks if c["name"] == "web")
            assert not web_line["ok"] and "web_failed" in web_line["text"]
            squatter.close()
            wait_for(lambda: any("event=web_listening" in r.getMessage() for r in caplog.records), timeout=10,
                     what="the web listener to take the freed port")
        assert http(f"{env.config.web.base_url}/health").text == "ok"
    finally:
        squatter.close()
        env.stop()


def test_check_says_whether_the_web_listener_answers(web, sink):
    def web_line() -> dict:
        checks = json.loads(web.cli("check", "--json", ok=False).output)["checks"]
        return next(c for c in checks if c["name"] == "web")

    stopped = web_line()
    assert stopped["ok"] and "is free for the web listener" in stopped["text"]
    web.start()
    running = web_line()
    assert running["ok"] and "answers ok" in running["text"], running


def test_the_secret_is_made_at_start_and_no_listen_starts_no_web_listener(tmp_path, sink):
    from mailhub.models import SiteSetting
    from mailhub.service import Service

    env = web_env(tmp_path, sink)
    service = Service(env.config, listen=False)  # `mailhub serve --no-listen`: the queues only
    service.start()
    try:
        with database(env) as session:
            assert len(bytes.fromhex(session.get(SiteSetting, links.SECRET).value)) == 32
        assert service.web is None
        with pytest.raises(OSError):
            socket.create_connection(env.config.web.address, timeout=1).close()
    finally:
        service.stop()
