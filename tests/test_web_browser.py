"""The one-click unsubscribe page as a member sees it on a phone, in a real headless Chromium
(tests/browser.py): the real service with its web listener, the member's link from the
List-Unsubscribe header of a copy they got, a page that names the group and has one button a
thumb can press, nothing loaded but the page itself; pressing the button takes the member off
the group and sends the goodbye mail, and only opening the page (as a mail scanner does) changes
nothing. Screenshots of what the member saw are kept in the test's tmp_path and named in the
run's summary."""
from __future__ import annotations

import json
import re
import urllib.request
from pathlib import Path
from typing import Callable, Iterator

import pytest
from sqlmodel import Session, select

from browser import PHONE, SMALLEST_PHONE, TAP_TARGET, Visit, browser, png_size, visit  # noqa: F401 (fixtures)
from conftest import DOMAIN, Env, Sink, free_port, mail, wait_for
from mailhub import links
from mailhub.db import make_engine
from mailhub.models import Group, Member

GROUP = "internationalmentoringprogramme2026"  # a long name (up to 64 allowed) must still fit a phone
ANN, BEA = "ann@example.com", "bea@example.com"


def health(base: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base}/health", timeout=2) as answer:
            return answer.status == 200 and answer.read().strip() == b"ok"
    except OSError:
        return False


@pytest.fixture
def web(tmp_path: Path, sink: Sink) -> Iterator[tuple[Env, str]]:
    """The service with its web listener on a free loopback port, a group of Ann and Bea; the
    listener's base URL."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = Env(tmp_path, sink.port, extra=f'\n[web]\nlisten = "127.0.0.1:{port}"\nbase_url = "{base}"\n')
    env.group(GROUP, ANN, BEA)
    env.start()
    try:
        wait_for(lambda: health(base), timeout=10, what=f"{base}/health to answer 'ok' (`mailhub serve`'s web listener)")
        yield env, base
    finally:
        env.stop()


def members(env: Env) -> set[str]:
    return {m["email"] for m in json.loads(env.cli("member", "list", GROUP, "--json").output)}


def built_link(env: Env, base: str, address: str) -> str:
    """The member's unsubscribe link made as the service makes it (links.py), from the database."""
    engine = make_engine(env.config.database.url)
    try:
        with Session(engine) as session:
            member = session.exec(select(Member).join(Group, Member.group_id == Group.id)
                                  .where(Group.name == GROUP, Member.email == address)).one()
            secret = links.site_secret(session)
            return f"{base}/{links.UNSUBSCRIBE}/{links.token(secret, links.UNSUBSCRIBE, member.id, member.token)}"
    finally:
        engine.dispose()


def unsubscribe_link(env: Env, sink: Sink, base: str, address: str) -> str:
    """The web link in the List-Unsubscribe header of the copy `address` gets of a post, as a mail
    program shows it; checked to be the one links.py makes for the member from the database."""
    env.send(mail(subject="Welcome, all", sender=f"Ann <{ANN}>"), [f"{GROUP}@{DOMAIN}"], mail_from=ANN)
    copy = sink.wait(address)[0]
    in_header = [u for u in re.findall(r"<([^>]*)>", str(copy["List-Unsubscribe"] or "")) if u.startswith(base)]
    assert in_header == [built_link(env, base, address)], \
        f"List-Unsubscribe should carry the member's web link: {copy['List-Unsubscribe']}"
    assert str(copy["List-Unsubscribe-Post"]).strip() == "List-Unsubscribe=One-Click", copy["List-Unsubscribe-Post"]
    return in_header[0]


def mails_to(sink: Sink, address: str, subject_part: str) -> list:
    return [r.message for r in sink.to(address) if subject_part in str(r.message["Subject"])]


def shot(seen: Visit, path: Path, figures: Callable[[str], None], size: dict[str, int]) -> Path:
    """A screenshot of what the member sees, checked to be a real PNG of the screen's size."""
    seen.screenshot(path)
    assert png_size(path.read_bytes()) == (size["width"], size["height"]), f"{path} is not {size}"
    figures(f"screenshot: {path}")
    print(f"screenshot: {path}")
    return path


def check_looks_right(seen: Visit, link: str, size: dict[str, int]) -> None:
    """The page a member lands on: the group's name, one button to press with a thumb, in view,
    nothing cut off or shrunk, nothing run or fetched but the page itself."""
    page = seen.page
    assert [(r.method, r.url, r.resource_type) for r in seen.requests] == [("GET", link, "document")], \
        "the page fetched more than itself (styles, fonts, images, scripts and favicons belong inline or nowhere)"
    assert seen.scripts() == [], "the page carries code; it must work with none"
    assert seen.phone_viewport(), "no <meta name=viewport content=width=device-width>: a phone shows it shrunk"
    assert seen.overflow(size["width"]) == 0, \
        f"the page is {seen.overflow(size['width'])} px wider than a {size['width']} px phone: cut off or scrolled sideways"
    assert GROUP in page.inner_text("body"), "the page does not name the group"

    button = page.get_by_role("button")
    assert button.count() == 1, f"{button.count()} buttons, not one"
    assert button.is_visible() and button.is_enabled()
    assert button.inner_text().strip() or button.get_attribute("value"), "the button says nothing"
    box = button.bounding_box()
    assert box is not None
    assert box["height"] >= TAP_TARGET, f"the button is {box['height']:.0f} px high, too small for a thumb"
    assert box["x"] >= 0 and box["x"] + box["width"] <= size["width"], f"the button is cut off at the side: {box}"
    assert box["y"] + box["height"] <= size["height"], f"the button is below the first screen: {box}"

    form = page.locator("form")
    assert form.count() == 1 and (form.get_attribute("method") or "").lower() == "post"
    hidden = form.locator('input[type="hidden"][name="List-Unsubscribe"]')
    assert hidden.count() == 1 and hidden.get_attribute("value") == "One-Click"


def test_member_leaves_with_one_tap_on_a_phone(web: tuple[Env, str], sink: Sink, visit: Visit, tmp_path: Path,
                                               figures: Callable[[str], None]) -> None:
    env, base = web
    link = unsubscribe_link(env, sink, base, BEA)
    page = visit.page

    answer = page.goto(link)
    assert answer is not None and answer.status == 200, f"GET {link}: {answer and answer.status}"
    assert "text/html" in answer.headers.get("content-type", "")
    check_looks_right(visit, link, PHONE)
    shot(visit, tmp_path / "unsubscribe-360x640.png", figures, PHONE)
    assert BEA in members(env), "opening the page alone took the member off"

    if not visit.tap_loads_a_page(page.get_by_role("button")):
        pytest.fail("tapping the button, as on a phone, loaded no page in 5 s", pytrace=False)
    posted = visit.requests[1:]
    assert posted and (posted[0].method, posted[0].url) == ("POST", link), [(r.method, r.url) for r in posted]
    assert posted[0].post_data == "List-Unsubscribe=One-Click"
    assert all(r.url.startswith(base) and r.resource_type == "document" for r in posted), \
        f"the answer fetched more than itself: {[r.url for r in posted]}"
    done = page.inner_text("body")
    assert re.search(r"\bleft\b", done, re.I) and GROUP in done, f"the answer does not say the member left: {done!r}"
    assert visit.scripts() == [] and visit.overflow(PHONE["width"]) == 0
    shot(visit, tmp_path / "unsubscribed-360x640.png", figures, PHONE)

    assert members(env) == {ANN}
    goodbye = wait_for(lambda: mails_to(sink, BEA, "You left"), what=f"the goodbye mail to {BEA}")[0]  # type: ignore[index]
    assert GROUP in str(goodbye["Subject"])


def test_opening_the_link_leaves_the_member_subscribed(web: tuple[Env, str], sink: Sink, visit: Visit,
                                                       tmp_path: Path, figures: Callable[[str], None]) -> None:
    """A mail scanner or a preview opens every link: only the button may take the member off.
    On the narrowest phone in use, so the page is checked at 320 px too."""
    env, base = web
    link = unsubscribe_link(env, sink, base, BEA)
    visit.resize(SMALLEST_PHONE)

    answer = visit.page.goto(link)
    assert answer is not None and answer.status == 200, f"GET {link}: {answer and answer.status}"
    check_looks_right(visit, link, SMALLEST_PHONE)
    shot(visit, tmp_path / "unsubscribe-320x568.png", figures, SMALLEST_PHONE)
    visit.page.reload()

    env.drained()
    assert members(env) == {ANN, BEA}
    assert mails_to(sink, BEA, "You left") == []
