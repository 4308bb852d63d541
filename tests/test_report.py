"""The monthly impact report (`mailhub report`, and the scheduler's monthly mail to owners): a
group whose archive was imported with known dates, in a time zone three hours ahead of UTC, so
that a post late on the last day of a month in UTC belongs to the next month there.

The archive, in Africa/Nairobi (UTC+3):
  September: "Old question" (Eve, 15th), answered by Bea 24 h later.
  October:   "Visa letters for the fair" (Ann, 1st 01:00 local, 30 Sep in UTC), answered by Bea
             3 h later, then Ann again and Cy: 3 replies. "Mentor matching for December" (Bea, 6th),
             answered by Dee 1 h later, then Ann: 2 replies. "How do I write a CV?" (Dee, 20th):
             no answer.
  November:  "Late question" (Fay, 1st 01:30 local, 31 Oct in UTC).
"""
from __future__ import annotations

import base64
import io
import re
from datetime import date, datetime, timedelta, timezone
from email import message_from_bytes, policy
from email.utils import format_datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from PIL import Image
from sqlmodel import Session, col, select

from conftest import DOMAIN, Env
from mailhub.db import make_engine
from mailhub.i18n.catalogs import translations
from mailhub.models import Outbox
from mailhub.stats.report import queue_monthly, sparkline

ZONE = "Africa/Nairobi"
POSTS_LINE = "▆█▁▃▁"  # October's weeks from the 1st (Thu), 5th, 12th, 19th, 26th: 3, 4, 0, 1, 0 posts
ANSWERED_LINE = "██▁▁▁"  # new topics answered in those weeks: 1, 1, 0, 0, 0
OWNERS = ("own1@example.org", "own2@example.org")


def utc(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=timezone.utc)


ARCHIVE = [  # (n, sender, subject, date, replying to n)
    (1, "Eve <eve@example.com>", "Old question", utc(9, 15, 8), None),
    (2, "Bea <bea@example.com>", "Re: Old question", utc(9, 16, 8), 1),
    (3, "Ann Lee <ann@example.com>", "Visa letters for the fair", utc(9, 30, 22), None),
    (4, "Bea <bea@example.com>", "Re: Visa letters for the fair", utc(10, 1, 1), 3),
    (5, "Ann Lee <ann@example.com>", "Re: Visa letters for the fair", utc(10, 3, 12), 4),
    (6, "Cy <cy@example.com>", "Re: Visa letters for the fair", utc(10, 10, 12), 3),
    (7, "Bea <bea@example.com>", "Mentor matching for December", utc(10, 6, 9), None),
    (8, "Dee <dee@example.com>", "Re: Mentor matching for December", utc(10, 6, 10), 7),
    (9, "Ann Lee <ann@example.com>", "Re: Mentor matching for December", utc(10, 7, 9), 7),
    (10, "Dee <dee@example.com>", "How do I write a CV?", utc(10, 20, 8), None),
    (11, "Fay <fay@example.com>", "Late question", utc(10, 31, 22, 30), None),
]


def write_archive(path: Path) -> Path:
    mails = []
    for n, sender, subject, when, parent in ARCHIVE:
        head = (f"From: {sender}\nTo: mentors@{DOMAIN}\nSubject: {subject}\nMessage-ID: <r{n}@example.com>\n"
                f"Date: {format_datetime(when)}\n" + (f"In-Reply-To: <r{parent}@example.com>\n" if parent else ""))
        mails.append(f"From x@example.com {when:%a %b %d %H:%M:%S %Y}\n{head}\nmail {n}\n\n")
    path.write_text("".join(mails))
    return path


def programme(env: Env, tmp_path: Path) -> None:
    """Group mentors in Nairobi time, two owners (the second reads French), Bea a mentor, and
    the archive imported."""
    env.cli("group", "create", "mentors", "--owner", OWNERS[0], "--owner", OWNERS[1])
    env.cli("group", "set", "mentors", "--timezone", ZONE)
    env.cli("member", "set", "mentors", OWNERS[1], "--language", "fr")
    env.cli("member", "add", "mentors", "bea@example.com", "--role", "mentor")
    assert "imported 11 messages" in env.cli("import", "mentors", str(write_archive(tmp_path / "a.mbox"))).output


def figure_rows(page: str) -> dict[str, tuple[str, str, str]]:
    """The headline table as a reader sees it: label -> (this month, previous month, change)."""
    rows = re.findall(r'<tr><th scope="row"[^>]*>(.*?)</th>\s*<td[^>]*>(.*?)</td>\s*<td[^>]*>(.*?)</td>\s*'
                      r'<td[^>]*>(.*?)</td></tr>', page)
    return {label: (now, before, change) for label, now, before, change in rows}


def png_size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        image.load()  # decodes every pixel: a broken PNG raises here
        return image.size


# ---- the web page --------------------------------------------------------------------------------

def test_report_html_is_one_self_contained_page_with_both_months_figures(env: Env, tmp_path: Path,
                                                                        figures) -> None:  # noqa: ANN001
    import time

    programme(env, tmp_path)
    target = tmp_path / "october.html"
    began = time.perf_counter()
    result = env.cli("report", "mentors", "--month", "2026-10", "--html", str(target))
    took = time.perf_counter() - began
    assert f"wrote the 2026-10 report of mentors to {target}" in result.output
    page = target.read_text(encoding="utf-8")

    assert page.startswith("<!DOCTYPE html>") and page.count("<html") == 1
    assert '<html lang="en" dir="ltr">' in page
    assert '<meta name="viewport"' in page
    # Nothing fetched: no links to anywhere, no scripts or style sheets, the one image inline.
    assert not re.search(r"https?://|<script|<link|@import|url\(", page)
    assert re.findall(r'src="([^"]{0,22})', page) == ["data:image/png;base64,"]

    rows = figure_rows(page)
    assert rows["Posts"] == ("8", "2", "+6")
    assert rows["New topics"] == ("3", "1", "+2")
    assert rows["Replies"] == ("5", "1", "+4")
    assert rows["New topics answered"] == ("2", "1", "+1")
    assert rows["Share of new topics answered"] == ("67%", "100%", "−33 pts")
    assert rows["Median time to a first reply"] == ("1 h", "24 h", "−23 h")
    assert rows["9 in 10 first replies within"] == ("3 h", "24 h", "−21 h")
    assert rows["Members who posted"] == ("4", "2", "+2")
    assert rows["Topics still without a reply"] == ("1", "0", "+1")
    assert rows["Mentors who replied"] == ("1", "1", "±0")
    assert len(rows) == 15
    assert "October 2026" in page and "September 2026" in page and ZONE in page

    encoded = re.search(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert encoded
    png = base64.b64decode(encoded.group(1), validate=True)
    assert png_size(png) == (640, 300)
    assert len(png) < 40_000
    # The chart's numbers, for readers who cannot see it.
    assert "Posts per week: 3, 4, 0, 1, 0. New topics answered per week: 1, 1, 0, 0, 0." in page

    top, waiting = page.split("Topics that drew the most replies")[1].split("Questions still waiting for an answer")
    assert re.search(r"<li[^>]*>Visa letters for the fair <span[^>]*>\(3 replies\)</span></li>\s*"
                     r"<li[^>]*>Mentor matching for December <span[^>]*>\(2 replies\)</span></li>", top)
    assert "How do I write a CV?" in waiting and "asked by Dee on Oct 20, 2026" in waiting
    assert "Late question" not in page  # 1 November in Nairobi: next month's
    figures(f"report --html: {len(page.encode()) // 1024} KB page, chart PNG {len(png) // 1024} KB (640x300), "
            f"{took:.2f} s for the command")


def test_report_without_options_prints_the_text_version(env: Env, tmp_path: Path) -> None:
    programme(env, tmp_path)
    text = env.cli("report", "mentors", "--month", "2026-10").output
    lines = text.splitlines()
    assert lines[0] == "mentors: impact report for October 2026"
    assert "October 2026 beside September 2026 (days in Africa/Nairobi)." in text
    assert re.search(r"^Posts +8 +2 +\+6$", text, re.M)
    assert re.search(r"^Share of new topics answered +67% +100% +−33 pts$", text, re.M)
    assert f"  {POSTS_LINE}  3 · 4 · 0 · 1 · 0" in lines
    assert f"  {ANSWERED_LINE}  1 · 1 · 0 · 0 · 0" in lines
    assert "Weeks starting Oct 1, Oct 5, Oct 12, Oct 19, Oct 26." in lines
    assert "1. Visa letters for the fair (3 replies)" in lines
    assert "- How do I write a CV?" in lines


def test_a_group_with_no_posts_gets_a_report_of_zeros(env: Env, tmp_path: Path) -> None:
    env.cli("group", "create", "quiet")
    text = env.cli("report", "quiet", "--month", "2026-10").output
    assert re.search(r"^Posts +0 +0 +±0$", text, re.M)
    assert re.search(r"^Share of new topics answered +– +– +–$", text, re.M)
    assert "No topic had a reply this month." in text and "None: every question has had an answer." in text
    target = tmp_path / "quiet.html"
    env.cli("report", "quiet", "--month", "2026-10", "--html", str(target))
    encoded = re.search(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', target.read_text())
    assert encoded and png_size(base64.b64decode(encoded.group(1))) == (640, 300)


def test_bad_input_is_a_one_line_error(env: Env, tmp_path: Path) -> None:
    env.cli("group", "create", "mentors")
    future = f"{datetime.now(timezone.utc).year + 1}-01"
    for args, says in [(("mentors", "--month", "2026-13"), "'2026-13' is not a month like 2026-03 (YYYY-MM)"),
                       (("mentors", "--month", "May"), "'May' is not a month like 2026-03 (YYYY-MM)"),
                       (("mentors", "--month", "0001-01"), "'0001-01' is before 1971"),
                       (("mentors", "--month", future), f"--month {future} has not begun yet"),
                       (("mentros", "--month", "2026-10"), "no group named 'mentros' (groups: mentors)"),
                       (("mentors", "--month", "2026-10", "--html", str(tmp_path / "no" / "such.html")),
                        "cannot write"),
                       (("mentors", "--month", "2026-10", "--mail"), "mentors has no owners")]:
        result = env.cli("report", *args, ok=False)
        assert result.exit_code == 1, (args, result.output)
        assert len(result.output.splitlines()) == 1 and result.output.startswith("error: "), result.output
        assert says in result.output


def test_sparklines_go_from_nothing_to_the_largest_week() -> None:
    assert sparkline([0, 1, 2, 3, 4, 5, 6, 7]) == "▁▂▃▄▅▆▇█"
    assert sparkline([0, 0, 0]) == "▁▁▁"
    assert sparkline([1, 100]) == "▂█"  # a week with posts never looks like one without


# ---- the mail ------------------------------------------------------------------------------------

def test_each_owner_gets_the_report_by_mail_in_their_language(env: Env, sink, tmp_path: Path) -> None:  # noqa: ANN001
    programme(env, tmp_path)
    env.start()
    result = env.cli("report", "mentors", "--month", "2026-10", "--mail")
    assert result.output.strip() == f"queued the 2026-10 report of mentors to 2 owners: {', '.join(OWNERS)}"
    for owner, language in zip(OWNERS, ("en", "fr")):
        sink.wait(owner)
    env.drained()
    for owner, language in zip(OWNERS, ("en", "fr")):
        received = sink.to(owner)
        assert len(received) == 1
        assert all(len(line) <= 998 for line in received[0].data.splitlines())
        mail = message_from_bytes(received[0].data, policy=policy.default)
        assert mail["Content-Language"] == language
        assert mail["Auto-Submitted"] == "auto-generated"
        assert mail["To"] == owner and mail["Message-ID"] and mail["Date"]
        assert mail["Reply-To"] == f"mentors-owner@{DOMAIN}"
        assert mail.get_content_type() == "multipart/alternative"
        plain, related = mail.get_payload()
        assert plain.get_content_type() == "text/plain"
        assert related.get_content_type() == "multipart/related"
        page, image = related.get_payload()
        assert page.get_content_type() == "text/html" and image.get_content_type() == "image/png"
        cid = str(image["Content-ID"]).strip().strip("<>")
        html = page.get_content().replace("\r\n", "\n")
        assert f'src="cid:{cid}"' in html and "data:image" not in html
        assert f'<html lang="{language}" dir="ltr">' in html
        assert png_size(image.get_content()) == (640, 300)

        text = plain.get_content().replace("\r\n", "\n")
        assert POSTS_LINE in text and ANSWERED_LINE in text
        assert "Visa letters for the fair" in text and "How do I write a CV?" in text
        gettext = translations(language).gettext
        assert str(mail["Subject"]) == gettext("%(group)s: impact report for %(month)s") % {
            "group": "mentors", "month": "October 2026" if language == "en" else "octobre 2026"}
        for label in ("Members who posted", "Topics that drew the most replies", "Questions still waiting for an answer"):
            assert gettext(label) in text and gettext(label) in html, (language, label)
        assert re.search(rf"^{re.escape(gettext('Posts'))} +8 +2 +\+6$", text, re.M), text


# ---- the monthly run -----------------------------------------------------------------------------

def first_of_next_month(zone: ZoneInfo) -> datetime:
    """00:30 on the 1st of next month in `zone` (the group was created this month)."""
    today = datetime.now(zone).date()
    first = date(today.year + today.month // 12, today.month % 12 + 1, 1)
    return datetime(first.year, first.month, 1, 0, 30, tzinfo=zone)


def report_rows(env: Env) -> list[tuple[str, str]]:
    with Session(make_engine(env.config.database.url)) as s:
        return list(s.exec(select(Outbox.key, Outbox.recipient).where(col(Outbox.key).startswith("report:"))
                           .order_by(Outbox.key)).all())


def test_the_monthly_run_queues_last_months_report_once_to_each_owner(env: Env, tmp_path: Path) -> None:
    programme(env, tmp_path)
    env.cli("group", "create", "ownerless")
    engine = make_engine(env.config.database.url)
    first = first_of_next_month(ZoneInfo(ZONE))
    # Still last month in Nairobi: the report due then is of the month before the group existed.
    assert queue_monthly(engine, env.config, now=first - timedelta(hours=1)) == 0
    assert queue_monthly(engine, env.config, now=first) == 2  # 21:30 UTC the day before: the 1st in Nairobi
    assert queue_monthly(engine, env.config, now=first) == 0
    assert queue_monthly(engine, env.config, now=first + timedelta(days=3)) == 0
    month = f"{first - timedelta(days=1):%Y-%m}"
    rows = report_rows(env)
    assert sorted(to for _, to in rows) == sorted(OWNERS)  # nothing for the group without owners
    assert all(re.fullmatch(rf"report:\d+:{month}:\d+", key) for key, _ in rows)
    # An owner who comes later gets it at the next look, once; the others get nothing more.
    env.cli("member", "add", "mentors", "own3@example.org", "--role", "owner")
    assert queue_monthly(engine, env.config, now=first + timedelta(days=3)) == 1
    assert queue_monthly(engine, env.config, now=first + timedelta(days=3, hours=1)) == 0
    assert sorted(to for _, to in report_rows(env)) == sorted([*OWNERS, "own3@example.org"])


def test_the_monthly_run_sends_nothing_when_monthly_is_off(env: Env, tmp_path: Path) -> None:
    programme(env, tmp_path)
    env.edit_config(lambda text: text + "\n[report]\nmonthly = false\n")
    assert env.config.report.monthly is False
    first = first_of_next_month(ZoneInfo(ZONE))
    assert queue_monthly(make_engine(env.config.database.url), env.config, now=first) == 0
    assert report_rows(env) == []


def test_a_report_mailed_by_hand_goes_each_time_and_the_monthly_one_still_comes(env: Env, tmp_path: Path) -> None:
    """`report --mail` sends whenever asked (this month's so far, say); the monthly run still
    sends the whole month's on the 1st."""
    programme(env, tmp_path)
    engine = make_engine(env.config.database.url)
    first = first_of_next_month(ZoneInfo(ZONE))
    month = f"{first - timedelta(days=1):%Y-%m}"
    for _ in range(2):
        env.cli("report", "mentors", "--month", month, "--mail")
    assert len(report_rows(env)) == 4
    assert queue_monthly(engine, env.config, now=first) == 2
    assert len(report_rows(env)) == 6
