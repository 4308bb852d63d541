"""Digests end to end: posts go in over SMTP, digests come out at the sink. Time is moved by
telling the digest run what "now" is, or by moving stored times back as if days had passed."""
from __future__ import annotations

import json
import threading
from datetime import datetime, time, timedelta, timezone
from email.message import Message as EmailMessage
from urllib.parse import unquote, urlparse
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session, select

from conftest import DOMAIN, Env, mail, text_of, wait_for
from mailhub.db import make_engine
from mailhub.digest_jobs import period_window, queue_digests
from mailhub.i18n.catalogs import local_time
from mailhub.models import DigestMark, Member, Message, Outbox, Topic, utcnow

POST = f"mentors@{DOMAIN}"
REQUEST = f"mentors-request@{DOMAIN}"
UTC = timezone.utc


@pytest.fixture
def env(tmp_path, sink):
    e = Env(tmp_path, sink.port, extra="[digest]\ncheck_every = 1\n")
    yield e
    e.stop()


def engine(env: Env):
    return make_engine(env.config.database.url)


def post(env: Env, sink, subject: str, body: str = "", sender: str = "bob@example.com") -> None:
    """Post as `sender` and wait for the copy to reach the each-member cat@."""
    before = len(sink.to("cat@example.com"))
    env.send(mail(subject=subject, body=body or f"About {subject}.", sender=sender), [POST], mail_from=sender)
    sink.wait("cat@example.com", before + 1)


def setup_group(env: Env, sink, *readers: tuple[str, str]) -> None:
    """mentors with bob and cat getting every message, and `readers` (address, delivery)."""
    env.group("mentors", "bob@example.com", "cat@example.com")
    for address, delivery in readers:
        env.cli("member", "add", "mentors", address, "--delivery", delivery, "--name", address.split("@")[0].title())
    env.start()


def move_back(env: Env, delta: timedelta, subjects: tuple[str, ...] = ()) -> None:
    """As if the posts (all, or those with these subjects) and every membership were `delta` older."""
    with Session(engine(env)) as s:
        for m in s.exec(select(Message).where(Message.state == "posted")).all():
            if not subjects or m.subject in subjects:
                m.posted_at, m.received_at = m.posted_at - delta, m.received_at - delta
                s.add(m)
        for member in s.exec(select(Member)).all():
            member.created_at -= delta
            s.add(member)
        s.commit()


def digests(sink, address: str) -> list[EmailMessage]:
    return [r.message for r in sink.to(address) if "digest" in str(r.message["Subject"])]


def parts(msg: EmailMessage) -> dict[str, str]:
    return {p.get_content_type(): p.get_payload(decode=True).decode("utf-8")
            for p in msg.walk() if p.get_content_maintype() == "text"}


def answered(sink, address: str) -> None:
    """Wait for the answer to a command mail (other mail, like a digest, may come meanwhile)."""
    wait_for(lambda: any("answer to your mail" in str(r.message["Subject"]) for r in sink.to(address)),
             what=f"the answer to {address}")


def test_period_window_starts_where_the_last_digest_ended():
    end = datetime(2026, 11, 23, 7, tzinfo=UTC)
    joined = datetime(2026, 1, 1, tzinfo=UTC)
    assert period_window("weekly", end, None, joined) == (end - timedelta(days=7), end)
    assert period_window("daily", end, end - timedelta(days=3), joined) == (end - timedelta(days=3), end)
    assert period_window("daily", end, end, joined) is None  # already sent
    assert period_window("daily", end, None, end + timedelta(hours=1)) is None  # joined after it was due
    assert period_window("weekly", end, None, end - timedelta(days=2)) == (end - timedelta(days=7), end)
    assert period_window("daily", end, end - timedelta(days=90), joined) == (end - timedelta(days=31), end)


def test_each_reader_gets_the_digest_at_seven_in_their_own_time_zone(env, sink):
    setup_group(env, sink, ("nia@example.com", "daily"), ("lucas@example.com", "daily"))
    env.cli("member", "set", "mentors", "nia@example.com", "--timezone", "Africa/Nairobi")  # UTC+3
    env.cli("member", "set", "mentors", "lucas@example.com", "--timezone", "America/Bogota")  # UTC-5
    post(env, sink, "Pricing handmade baskets")
    posted = utcnow()

    def next_utc(hour: int) -> datetime:
        moment = datetime.combine(posted.date(), time(hour), tzinfo=UTC)
        return moment if moment > posted else moment + timedelta(days=1)

    nairobi, bogota = next_utc(4), next_utc(12)  # 07:00 local in each
    eng = engine(env)
    assert queue_digests(eng, env.config, now=min(nairobi, bogota) - timedelta(minutes=1)).queued == 0
    assert queue_digests(eng, env.config, now=max(nairobi, bogota) + timedelta(minutes=1)).queued == 2
    with Session(eng) as s:
        ends = {email: end for email, end in s.exec(select(Member.email, DigestMark.ends_at)
                                                    .join(DigestMark, DigestMark.member_id == Member.id)).all()}
    assert ends == {"nia@example.com": nairobi, "lucas@example.com": bogota}
    assert ends["nia@example.com"].astimezone(ZoneInfo("Africa/Nairobi")).hour == 7
    assert ends["lucas@example.com"].astimezone(ZoneInfo("America/Bogota")).hour == 7
    text = text_of(sink.wait("nia@example.com")[0])
    assert "(times in Africa/Nairobi)" in text and "Pricing handmade baskets" in text
    local = local_time(posted, ZoneInfo("America/Bogota"), "en").rsplit(":", 1)[0] + ":"  # "Mon, Nov 16 02:"
    assert local in text_of(sink.wait("lucas@example.com")[0])


def test_a_missed_digest_goes_out_once_at_start_up_covering_the_whole_gap(env, sink):
    setup_group(env, sink, ("ann@example.com", "daily"))
    for subject in ("Day one: market stalls", "Day two: bank loans", "Day three: pricing"):
        post(env, sink, subject)
    env.stop()
    # mailhub was down for three days: ann's last digest was four days ago, the posts came after it.
    move_back(env, timedelta(days=10))
    with Session(engine(env)) as s:
        ann = s.exec(select(Member).where(Member.email == "ann@example.com")).one()
        s.add(DigestMark(member_id=ann.id, group_id=ann.group_id, period="daily",
                         starts_at=utcnow() - timedelta(days=5), ends_at=utcnow() - timedelta(days=4)))
        for m, days in zip(s.exec(select(Message).order_by(Message.id)).all(), (3.5, 2.5, 1.5)):
            m.posted_at = utcnow() - timedelta(days=days)
            s.add(m)
        s.commit()
    env.start()  # the scheduler looks at once
    digest = sink.wait("ann@example.com")[0]
    text = text_of(digest)
    for subject in ("Day one: market stalls", "Day two: bank loans", "Day three: pricing"):
        assert subject in text
    assert "3 new topics" in str(digest["Subject"])
    env.stop()
    env.start()  # a restart finds the period recorded
    result = env.cli("digest", "send", "mentors")
    assert "0 digests queued" in result.output
    wait_for(lambda: queue_digests(engine(env), env.config).queued == 0, what="a digest run")
    env.drained()
    assert len(digests(sink, "ann@example.com")) == 1


def test_a_double_trigger_or_two_runs_at_once_send_one_digest(env, sink):
    setup_group(env, sink, *((f"reader{i}@example.com", "weekly") for i in range(20)))
    post(env, sink, "Grant for bakeries")
    env.stop()
    later = utcnow() + timedelta(days=8)  # past the next weekly moment
    eng = engine(env)
    runs = [threading.Thread(target=queue_digests, args=(make_engine(env.config.database.url), env.config, later))
            for _ in range(4)]
    for run in runs:
        run.start()
    for run in runs:
        run.join()
    assert queue_digests(eng, env.config, now=later).queued == 0  # and once more, after
    with Session(eng) as s:
        rows = s.exec(select(Outbox.recipient).where(Outbox.kind == "digest")).all()
    assert sorted(rows) == sorted(f"reader{i}@example.com" for i in range(20))
    env.start()
    for i in range(20):
        sink.wait(f"reader{i}@example.com")
    env.drained()
    assert all(len(digests(sink, f"reader{i}@example.com")) == 1 for i in range(20))


def reply_link(text: str, subject: str) -> tuple[str, str]:
    """The address and subject of the "Reply:" mailto under the topic `subject`."""
    block = text[text.index("* " + subject):]
    link = urlparse(block[block.index("mailto:"):].split()[0])
    return link.path, unquote(link.query.removeprefix("subject="))


def test_a_reply_from_the_digest_link_joins_that_topic(env, sink):
    setup_group(env, sink, ("ann@example.com", "weekly"))
    post(env, sink, "Where to buy cheap fabric?")
    post(env, sink, "Radio advertising")
    queue_digests(engine(env), env.config, now=utcnow() + timedelta(days=8))
    digest = sink.wait("ann@example.com")[0]
    assert digest["Reply-To"] == REQUEST
    address, subject = reply_link(text_of(digest), "Where to buy cheap fabric?")
    assert subject == "Re: Where to buy cheap fabric?"
    # The link's address and subject only: no In-Reply-To, as when a phone opens a mailto link.
    env.send(mail(subject=subject, body="Try the wholesale market on Fridays.", sender="Ann <ann@example.com>",
                  to=address), [address], mail_from="ann@example.com")
    copy = wait_for(lambda: [m for m in (r.message for r in sink.to("cat@example.com"))
                             if "wholesale" in text_of(m)], what="the reply's copy")[0]
    assert copy["Reply-To"] == f"<{address}>"
    topics = json.loads(env.cli("topics", "mentors", "--json").output)
    assert sorted((t["subject"], t["messages"]) for t in topics) == [("Radio advertising", 1),
                                                                     ("Where to buy cheap fabric?", 2)]
    # A member and a group with digests sent can still be removed.
    env.cli("member", "remove", "mentors", "ann@example.com")
    env.cli("group", "delete", "mentors", "--yes")


def test_replying_to_the_digest_itself_posts_nothing_and_says_how_to_answer(env, sink):
    setup_group(env, sink, ("ann@example.com", "weekly"))
    post(env, sink, "Radio advertising")
    queue_digests(engine(env), env.config, now=utcnow() + timedelta(days=8))
    digest = sink.wait("ann@example.com")[0]
    env.reply(digest, "Thanks, very useful!", "Ann <ann@example.com>")  # goes to the Reply-To
    answer = sink.wait("ann@example.com", 2)[1]
    assert "Your reply went to the digest" in text_of(answer)
    # Written to the group address by hand, with the digest's In-Reply-To: refused, with the reason.
    env.send(mail(subject="Re: " + str(digest["Subject"]), body="Thanks!", sender="ann@example.com",
                  headers=f"In-Reply-To: {digest['Message-ID']}\r\n"), [POST], mail_from="ann@example.com")
    refused = sink.wait("ann@example.com", 3)[2]
    assert "was not posted" in str(refused["Subject"]) and "answers a digest" in text_of(refused)
    env.drained()
    topics = json.loads(env.cli("topics", "mentors", "--json").output)
    assert [t["subject"] for t in topics] == ["Radio advertising"]


def test_the_size_budget_is_kept_and_the_rest_listed_with_get(sink, tmp_path):
    (tmp_path / "small").mkdir()
    env = Env(tmp_path / "small", sink.port,
              extra="[digest]\ncheck_every = 1\ntext_budget = 8000\nhtml_budget = 12000\n")
    try:
        setup_group(env, sink, ("ann@example.com", "weekly"))
        subjects = [f"Question {i:02d} about export rules" for i in range(30)]
        for subject in subjects:
            post(env, sink, subject, body="Customs forms, tariffs and the paperwork for each market. " * 12)
        queue_digests(engine(env), env.config, now=utcnow() + timedelta(days=8))
        body = parts(sink.wait("ann@example.com")[0])
        text, html = body["text/plain"], body["text/html"]
        assert len(text.encode()) <= 8000 and len(html.encode()) <= 12000
        assert "== More topics ==" in text
        shown, listed = text.split("== More topics ==")
        assert all(s in shown or s in listed for s in subjects)  # every topic is named
        left_out = [s for s in subjects if s not in shown]
        assert left_out and all(s in html for s in left_out)
        key = listed[listed.index(left_out[0]):].split("get ", 1)[1].split()[0]
        before = len(sink.to("ann@example.com"))
        env.send(mail(subject=f"get {key}", body="", sender="ann@example.com", to=REQUEST), [REQUEST],
                 mail_from="ann@example.com")
        got = text_of(sink.wait("ann@example.com", before + 1)[before])
        assert left_out[0] in got and "paperwork for each market" in got
    finally:
        env.stop()


def test_plain_readers_get_text_only(env, sink):
    setup_group(env, sink, ("ann@example.com", "weekly"), ("dee@example.com", "weekly"))
    env.cli("member", "set", "mentors", "dee@example.com", "--plain", "on")
    post(env, sink, "Bookkeeping apps")
    queue_digests(engine(env), env.config, now=utcnow() + timedelta(days=8))
    plain, rich = sink.wait("dee@example.com")[0], sink.wait("ann@example.com")[0]
    assert plain.get_content_type() == "text/plain" and "Bookkeeping apps" in text_of(plain)
    assert rich.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in rich.get_payload()] == ["text/plain", "text/html"]


def test_the_html_part_needs_nothing_from_the_web_and_fits_a_phone(env, sink):
    setup_group(env, sink, ("ann@example.com", "weekly"))
    post(env, sink, "A very long subject " + "without-any-spaces-at-all-" * 8)
    page = env.cli("digest", "preview", "mentors", "ann@example.com", "--html").output
    assert page.startswith("<!DOCTYPE html>") and 'name="viewport"' in page
    for remote in ("<img", "<style", "<link", "http://", "https://", "src=", "url("):
        assert remote not in page
    assert "max-width:600px" in page and "overflow-wrap:break-word" in page
    assert "width:" not in page.replace("max-width:", "")  # no fixed widths wider than a phone


def test_a_quiet_week_sends_nothing_unless_the_group_asks_for_a_note(env, sink):
    setup_group(env, sink, ("ann@example.com", "weekly"))
    env.stop()
    move_back(env, timedelta(days=10))
    eng = engine(env)
    assert queue_digests(eng, env.config, now=utcnow()).queued == 0
    env.cli("group", "set", "mentors", "--digest-quiet", "on")
    assert queue_digests(eng, env.config, now=utcnow() + timedelta(days=7)).queued == 1
    env.start()
    note = sink.wait("ann@example.com")[0]
    assert "all quiet" in str(note["Subject"])
    env.drained()
    assert len(sink.to("ann@example.com")) == 1


def test_helpers_see_unanswered_topics_first_and_muted_topics_are_left_out(env, sink):
    setup_group(env, sink, ("ann@example.com", "weekly"), ("mia@example.com", "weekly"))
    env.cli("member", "set", "mentors", "mia@example.com", "--role", "mentor")
    post(env, sink, "Nobody answered me yet")
    env.stop()
    move_back(env, timedelta(days=3))
    env.start()
    post(env, sink, "Trade fair in Accra")
    mentor = env.cli("digest", "preview", "mentors", "mia@example.com").output
    member = env.cli("digest", "preview", "mentors", "ann@example.com").output
    assert mentor.index("Unanswered — can you help?") < mentor.index("New topics")
    assert member.index("New topics") < member.index("Unanswered — can you help?")
    assert "Nobody answered me yet" in member and "Trade fair in Accra" in member
    mute = next(line for line in member.splitlines() if "Mute:" in line and "mute" in line)
    key = unquote(mute.split("subject=")[1]).split()[1]
    with Session(engine(env)) as s:
        topic = s.exec(select(Topic).where(Topic.key == key)).one()
    env.send(mail(subject=f"mute {key}", body="", sender="ann@example.com", to=REQUEST), [REQUEST],
             mail_from="ann@example.com")
    answered(sink, "ann@example.com")
    member = env.cli("digest", "preview", "mentors", "ann@example.com").output
    assert topic.subject not in member


def test_digest_commands_explain_bad_input(env, sink):
    setup_group(env, sink)
    result = env.cli("digest", "preview", "mentors", "bob@example.com", ok=False)
    assert result.exit_code == 1 and "not a digest" in result.output
    result = env.cli("digest", "preview", "mentors", "bob@example.com", "--period", "monthly", ok=False)
    assert result.exit_code == 2 and "daily or weekly" in result.output
    result = env.cli("digest", "send", "nosuchgroup", ok=False)
    assert result.exit_code == 1 and "nosuchgroup" in result.output
    quiet = env.cli("digest", "preview", "mentors", "bob@example.com", "--period", "weekly").output
    assert "no digest: nothing new" in quiet


def test_switching_to_a_digest_starts_it_from_the_switch(env, sink):
    setup_group(env, sink)
    post(env, sink, "Already read one by one")
    env.send(mail(subject="digest weekly", body="", sender="cat@example.com", to=REQUEST), [REQUEST],
             mail_from="cat@example.com")
    answered(sink, "cat@example.com")
    preview = env.cli("digest", "preview", "mentors", "cat@example.com").output
    assert preview.startswith("no digest: nothing new")
    env.send(mail(subject="After the switch", body="New since.", sender="bob@example.com"), [POST],
             mail_from="bob@example.com")
    wait_for(lambda: "After the switch" in env.cli("digest", "preview", "mentors", "cat@example.com").output,
             what="the new post in the preview")
    assert "Already read one by one" not in env.cli("digest", "preview", "mentors", "cat@example.com").output
