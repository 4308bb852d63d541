"""Private replies through the group, over real SMTP: in a group that hides addresses, each copy's
footer gives its reader their own relay address to the author; a private mail and its answer go
through the group and neither side ever sees the other's address (every byte searched). Forged,
expired or ended relay addresses, and strangers, get 550 at RCPT; `block` stops one person's
private mail; the safeguarding copy goes to staff and every footer says so; sending is
rate-limited; every relayed mail is logged without its body."""
from __future__ import annotations

import email.utils
import json
import re
import smtplib
from datetime import datetime, timedelta, timezone

import pytest
from sqlmodel import Session, create_engine, select

from conftest import DOMAIN, Env, mail, text_of, wait_for
from mailhub import links
from mailhub.models import Member
from mailhub.relay import TOKEN_LENGTH, bind, make_token, read_token
from mailhub.router import PRIVATE, address_for, parse_address
from test_addresses_hidden import readable, forms

POST = f"mentors@{DOMAIN}"
ANN, BOB, CAT = "ann@example.com", "bob@example.net", "cat@example.org"
RELAY = re.compile(r"mentors\+p-[a-z2-7]{%d}@%s" % (TOKEN_LENGTH, re.escape(DOMAIN)))


def setup(env: Env, extra_members: tuple[str, ...] = ()) -> None:
    env.start()
    env.group("mentors")
    for address, name in ((ANN, "Ann Wanjiru"), (BOB, "Bob"), (CAT, "Cat"), *((m, "") for m in extra_members)):
        env.cli("member", "add", "mentors", address, *(["--name", name] if name else []))


def all_text(msg) -> str:
    """Every text/plain part of a mail, decoded: a footer may travel in a part of its own."""
    return "\n".join(part.get_payload(decode=True).decode(part.get_content_charset() or "utf-8")
                     for part in msg.walk() if part.get_content_type() == "text/plain")


def relay_in(msg) -> str:
    """The private-reply address a copy's footer offers its reader."""
    found = RELAY.findall(all_text(msg))
    assert len(found) == 1, all_text(msg)
    return found[0]


def refused(env: Env, rcpt: str, mail_from: str) -> tuple[int, bytes]:
    """What RCPT TO answers for `rcpt` in a session from `mail_from`."""
    with smtplib.SMTP("127.0.0.1", env.port, timeout=10) as smtp:
        smtp.ehlo()
        smtp.mail(mail_from)
        return smtp.rcpt(rcpt)


def site(env: Env) -> tuple[bytes, int, dict[str, Member]]:
    """The site's key, the group's id and its members by address, as the database has them."""
    engine = create_engine(env.config.database.url)
    with Session(engine) as session:
        secret = links.site_secret(session)
        group_id = json.loads(env.cli("group", "show", "mentors", "--json").output)["id"]
        members = {m.email: m for m in session.exec(select(Member).where(Member.group_id == group_id)).all()}
    engine.dispose()
    return secret, group_id, members


def leaks(received: list, address: str) -> list[str]:
    """Subjects of the mails in `received` in which `address` shows, in any encoding."""
    return [str(r.message["Subject"]) for r in received if any(f in readable(r.data) for f in forms(address))]


def test_private_reply_round_trip_without_addresses(env: Env, sink) -> None:
    setup(env)
    env.send(mail("Pricing baskets", "How do you price baskets for export?", "Ann Wanjiru <ann@example.com>"),
             [POST], ANN)
    bob_copy, = sink.wait(BOB)
    cat_copy, = sink.wait(CAT)
    # Each reader gets an address of their own, to the author, and none names Ann's address.
    to_ann = relay_in(bob_copy)
    assert relay_in(cat_copy) != to_ann
    assert "Write to Ann Wanjiru privately" in text_of(bob_copy)
    assert bob_copy["Reply-To"] != f"<{to_ann}>"  # a plain reply still goes to the topic

    # Bob writes privately: only Ann gets it, from an address of the group that leads back to Bob.
    env.send(mail("Can we talk?", "Hi Ann, could you tell me more about pricing?", "Bob <bob@example.net>",
                  to=to_ann), [to_ann], BOB)
    private, = sink.wait(ANN)
    assert private["Subject"] == "Can we talk?"
    name, back = email.utils.parseaddr(private["From"])
    assert name == "Bob via mentors" and RELAY.fullmatch(back)
    assert "could you tell me more about pricing" in text_of(private)
    footer = text_of(private).replace("\r\n", "\n")
    assert ("\n-- \nA private message from Bob through mentors. Reply to answer only Bob; neither of you sees "
            "the other's address.\nTo get no more private mail from Bob, reply with the one word: block\n") in footer
    assert "List-Id" not in private and "List-Unsubscribe" not in private

    # Ann answers as a mail program does: to From, quoting Bob. Bob gets it, from a relay to Ann.
    env.reply(private, "Of course. I start from the cost of the raw materials.", "Ann Wanjiru <ann@example.com>")
    answer = wait_for(lambda: [m for m in sink.to(BOB) if m.message["Subject"] == "Re: Can we talk?"],
                      what="Ann's private answer")[0].message
    assert email.utils.parseaddr(answer["From"])[0] == "Ann Wanjiru via mentors"
    assert "raw materials" in text_of(answer)
    assert answer["In-Reply-To"] == private["Message-ID"]  # it threads with Bob's mail
    env.drained()
    # Neither learnt the other's address, and Cat saw nothing of it.
    assert leaks(sink.to(ANN), BOB) == [] and leaks(sink.to(BOB), ANN) == []
    assert [str(r.message["Subject"]) for r in sink.to(CAT)] == ["[mentors] Pricing baskets"]
    # Both mails are logged (who, when, size), never their text.
    log = json.loads(env.cli("private", "mentors", "--json").output)
    assert [(row["sender"], row["recipient"]) for row in log] == [(ANN, BOB), (BOB, ANN)]
    assert all(row["size"] > 0 and row["kind"] == "private" for row in log)
    assert "raw materials" not in json.dumps(log)
    # The topic shows only the post.
    topics = json.loads(env.cli("topics", "mentors", "--json").output)
    assert [t["subject"] for t in topics] == ["Pricing baskets"]


def test_forged_expired_and_foreign_relay_addresses_get_550_at_rcpt(env: Env, sink) -> None:
    setup(env)
    env.send(mail("Hello", "Hi all", "Ann <ann@example.com>"), [POST], ANN)
    to_ann = relay_in(sink.wait(BOB)[0])
    token = to_ann.split("+p-")[1].split("@")[0]
    forged = to_ann.replace(token, token[:-1] + ("a" if token[-1] != "a" else "b"))
    code, text = refused(env, forged, BOB)
    assert code == 550 and b"no such address" in text
    # The right token from anyone but Bob reads the same as a forged one: nothing says who is a member.
    assert refused(env, to_ann, CAT) == (code, text.replace(forged.encode(), to_ann.encode()))
    assert refused(env, to_ann, "stranger@example.com")[0] == 550
    assert refused(env, to_ann, "")[0] == 550  # the null sender: bounces never reach a member this way
    assert refused(env, to_ann, BOB)[0] == 250
    # A token made past limits.relay_days (90) no longer works; one for another group never did.
    secret, group_id, members = site(env)
    bob, ann = members[BOB], members[ANN]
    made = datetime.now(timezone.utc) - timedelta(days=89)
    fresh = make_token(secret, group_id, bob.id, ann.id, made, bind(bob.token, ann.token))
    assert refused(env, address_for("mentors", DOMAIN, PRIVATE, fresh), BOB)[0] == 250  # so the next can fail
    old = make_token(secret, group_id, bob.id, ann.id, made - timedelta(days=2), bind(bob.token, ann.token))
    assert refused(env, address_for("mentors", DOMAIN, PRIVATE, old), BOB)[0] == 550
    env.cli("group", "create", "others")
    assert refused(env, to_ann.replace("mentors+", "others+"), BOB)[0] == 550
    # Ended: once Ann has left, her relay address is gone.
    env.cli("member", "remove", "mentors", ANN)
    assert refused(env, to_ann, BOB)[0] == 550


def test_block_stops_one_persons_private_mail(env: Env, sink) -> None:
    setup(env)
    env.send(mail("Hello", "Hi all", "Ann <ann@example.com>"), [POST], ANN)
    to_ann_from_bob = relay_in(sink.wait(BOB)[0])
    to_ann_from_cat = relay_in(sink.wait(CAT)[0])
    env.send(mail("Coffee?", "Shall we meet?", "Bob <bob@example.net>", to=to_ann_from_bob), [to_ann_from_bob], BOB)
    from_bob = sink.wait(ANN)[0]
    assert "reply with the one word: block" in text_of(from_bob)
    env.reply(from_bob, "block", "Ann <ann@example.com>", quote=True)
    answer = wait_for(lambda: [m for m in sink.to(ANN) if "no private mail from Bob" in str(m.message["Subject"])],
                      what="the answer to block")[0].message
    assert answer["Subject"] == "You will get no private mail from Bob"
    assert text_of(answer).startswith("Hello,\r\n\r\nBob can no longer write to you privately")
    assert leaks(sink.to(ANN), BOB) == []
    env.drained()
    assert [m.message["Subject"] for m in sink.to(BOB)] == ["[mentors] Hello"]  # "block" is not passed on
    code, text = refused(env, to_ann_from_bob, BOB)
    assert code == 550 and b"does not take private mail from you" in text
    # Cat is not blocked.
    assert refused(env, to_ann_from_cat, CAT)[0] == 250
    # A block works both ways: Ann cannot write to Bob either, and is told how to undo it.
    unblock_to = email.utils.parseaddr(from_bob["From"])[1]
    env.send(mail("Still there?", "Are you still there?", "Ann <ann@example.com>", to=unblock_to), [unblock_to], ANN)
    told = wait_for(lambda: [m for m in sink.to(ANN) if "was not passed on" in str(m.message["Subject"])],
                    what="the answer to a blocked writer")[0].message
    assert told["Subject"] == "Your private message to Bob was not passed on"
    assert "You blocked Bob: neither of you can write privately" in text_of(told)
    env.drained()
    assert [m.message["Subject"] for m in sink.to(BOB)] == ["[mentors] Hello"]
    # Unblock: Ann writes "unblock" to the same address she wrote "block" to.
    env.send(mail("unblock", "unblock", "Ann <ann@example.com>", to=unblock_to), [unblock_to], ANN)
    wait_for(lambda: [m for m in sink.to(ANN) if "can reach you again" in str(m.message["Subject"])],
             what="the answer to unblock")
    assert refused(env, to_ann_from_bob, BOB)[0] == 250


def test_a_relay_address_dies_with_the_membership_even_if_its_number_is_given_again(env: Env, sink) -> None:
    """SQLite gives the next member the number of the last one deleted: Bob's address to Dee must
    not reach Zed, who joined after Dee left and got her number."""
    setup(env, extra_members=("dee@example.com",))
    env.send(mail("Hello", "Hi all", "Dee <dee@example.com>"), [POST], "dee@example.com")
    to_dee = relay_in(sink.wait(BOB)[0])
    dee_id = site(env)[2]["dee@example.com"].id
    env.cli("member", "remove", "mentors", "dee@example.com")
    env.cli("member", "add", "mentors", "zed@example.com")
    assert site(env)[2]["zed@example.com"].id == dee_id  # the case this guards against
    assert refused(env, to_dee, BOB)[0] == 550


def test_private_mail_names_the_writer_without_any_address(env: Env, sink) -> None:
    setup(env)
    env.send(mail("Hello", "Hi all", "Ann <ann@example.com>"), [POST], ANN)
    to_ann = relay_in(sink.wait(BOB)[0])
    env.send(mail("Hi", "A private word.", '"Bob (bob@work.example)" <bob@example.net>', to=to_ann), [to_ann], BOB)
    got = sink.wait(ANN)[0]
    assert email.utils.parseaddr(got["From"])[0] == "Bob via mentors"
    assert leaks(sink.to(ANN), "bob@work.example") == [] and leaks(sink.to(ANN), BOB) == []


def test_safeguarding_copy_and_every_footer_says_so(env: Env, sink) -> None:
    setup(env)
    env.cli("group", "set", "mentors", "--private-copy", "safeguarding@charity.example")
    env.send(mail("Hello", "Hi all", "Ann <ann@example.com>"), [POST], ANN)
    for member in (BOB, CAT):  # the author gets no copy of her own post
        assert "also sent to the programme's staff (safeguarding@charity.example)" in text_of(sink.wait(member)[0])
    to_ann = relay_in(sink.wait(BOB)[0])
    env.send(mail("Private", "Something only for Ann.", "Bob <bob@example.net>", to=to_ann), [to_ann], BOB)
    staff, = sink.wait("safeguarding@charity.example")
    assert "Something only for Ann." in text_of(staff)
    assert "Safeguarding copy: Bob <bob@example.net> wrote privately to Ann Wanjiru <ann@example.com>" \
        in text_of(staff)
    to_ann_mail = sink.wait(ANN)[0]
    assert "also sent to the programme's staff" in text_of(to_ann_mail)
    assert leaks(sink.to(ANN), BOB) == []
    # Digest readers are told too, in the digest's footer (text and HTML).
    for html in ([], ["--html"]):
        preview = env.cli("digest", "preview", "mentors", CAT, "--period", "weekly", *html).output
        assert "also sent to the programme's staff (safeguarding@charity.example)" in preview
    # Off again: no more copies, no more footer line.
    env.cli("group", "set", "mentors", "--private-copy", "off")
    env.send(mail("Again", "Hi again", "Ann <ann@example.com>"), [POST], ANN)
    assert "programme's staff" not in text_of(sink.wait(BOB, 2)[1])
    bad = env.cli("group", "set", "mentors", "--private-copy", "not an address", ok=False)
    assert bad.exit_code == 1 and "--private-copy" in bad.output


def test_private_mail_is_rate_limited_per_sender(tmp_path, sink) -> None:
    env = Env(tmp_path, sink.port, extra="[limits]\nrelay_per_hour = 2\n")
    try:
        setup(env)
        env.send(mail("Hello", "Hi all", "Ann <ann@example.com>"), [POST], ANN)
        to_ann = relay_in(sink.wait(BOB)[0])
        for n in range(2):
            env.send(mail(f"Note {n}", "a note", "Bob <bob@example.net>", to=to_ann), [to_ann], BOB)
            sink.wait(ANN, 1 + n)
        wait_for(lambda: len(json.loads(env.cli("private", "mentors", "--json").output)) == 2, what="the log")
        code, text = refused(env, to_ann, BOB)
        assert code == 450 and b"too many private messages" in text
    finally:
        env.stop()


def test_shown_group_footer_gives_the_author_address(env: Env, sink) -> None:
    """Where a group shows addresses, the footer keeps the author's own address (the old way)."""
    env.start()
    env.group("mentors", ANN, BOB, addresses="shown")
    env.send(mail("Hello", "Hi all", "Ann <ann@example.com>"), [POST], ANN)
    assert f"privately: {ANN}" in text_of(sink.wait(BOB)[0])
    assert not RELAY.search(text_of(sink.wait(BOB)[0]))


@pytest.mark.parametrize("text", ["Hello, a short ASCII post.", "مرحبا بالجميع، كيف تسعرون السلال؟ " * 3,
                                  "Habari za asubuhi, café crème au lait pour tout le monde\r\n" * 40])
def test_each_reader_gets_a_working_token_whatever_the_encoding(env: Env, sink, text: str) -> None:
    """Arabic text goes base64: the footer then travels in a part of its own, where each reader's
    token is filled in; a long Latin text goes quoted-printable with the address on its own line."""
    setup(env)
    env.send(mail("Salaam", text, "Ann <ann@example.com>").replace(
        b"Subject:", b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\nSubject:"),
        [POST], ANN)
    copy = sink.wait(BOB)[0]
    address = relay_in(copy)
    assert text.strip()[:20] in all_text(copy)
    parsed = parse_address(address, DOMAIN)
    secret, group_id, members = site(env)
    by_id = {m.id: m for m in members.values()}
    grant = read_token(secret, group_id, parsed.token, datetime.now(timezone.utc), 90,
                       lambda w, r: bind(by_id[w].token, by_id[r].token))
    assert (by_id[grant.writer].email, by_id[grant.reader].email) == (BOB, ANN)
    assert refused(env, address, BOB)[0] == 250


def test_tokens_are_per_writer_reader_group_and_membership() -> None:
    now = datetime(2026, 12, 2, tzinfo=timezone.utc)
    key, tied = b"k" * 32, bind("bob-token", "ann-token")
    token = make_token(key, 1, 7, 9, now, tied)
    assert len(token) == TOKEN_LENGTH and token == token.lower()

    def read(token: str, key: bytes = key, group: int = 1, at: datetime = now, members: bytes = tied):
        return read_token(key, group, token, at, 90, lambda writer, reader: members)

    grant = read(token, at=now + timedelta(days=89))
    assert (grant.writer, grant.reader) == (7, 9)
    assert read(token, at=now + timedelta(days=90)) is None  # expired
    assert read(token, group=2) is None  # another group
    assert read(token, key=b"x" * 32) is None  # another site
    assert read(token, members=bind("bob-token", "zed-token")) is None  # member 9 is someone else now
    assert read(token.upper()) is not None  # a mail system that uppercases
    assert read(token[:-1]) is None
    assert make_token(key, 1, 9, 7, now, tied) != token  # the way back is another token


@pytest.mark.parametrize("body", [
    b"Hi  all,\t\r\nprices  here \r\n-- \r\nWrite privately:\r\n{slot}\r\nLeave: x@y\r\n\r\n\r\n",
    b"{slot}\r\n",
    b"=C3=A9t=C3=A9 \r\n\r\n{slot}\r\n\t tail  \r\n",
])
def test_each_readers_body_hash_is_the_whole_bodys(body: bytes) -> None:
    """Signing a copy per reader hashes the body up to the relay slot once (signing.SlotHash):
    for every reader's token it must equal hashing that reader's whole body."""
    from mailhub.compose import RELAY_SLOT
    from mailhub.signing import Signer, SlotHash

    slot = address_for("mentors", DOMAIN, PRIVATE, RELAY_SLOT).encode()
    parts = SlotHash.of(body.replace(b"{slot}", slot), slot)
    for writer in (1, 2, 300):
        filled = address_for("mentors", DOMAIN, PRIVATE,
                             make_token(b"k" * 32, 1, writer, 9, datetime.now(timezone.utc), b"")).encode()
        assert parts.body_hash(filled) == Signer.body_hash(body.replace(b"{slot}", filled))
    assert SlotHash.of(b"no slot here\r\n", slot) is None


def test_a_token_shows_no_member_number() -> None:
    """Two tokens for members 1 and 2 made the same day share nothing a reader could count on."""
    now = datetime(2026, 12, 2, tzinfo=timezone.utc)
    first, second = make_token(b"k" * 32, 1, 1, 2, now, b""), make_token(b"k" * 32, 1, 2, 1, now, b"")
    same = sum(a == b for a, b in zip(first, second))
    assert same < 8, (first, second)  # about 1 in 32 characters agree by chance
    assert not first.startswith("aaaa") and not second.startswith("aaaa")
