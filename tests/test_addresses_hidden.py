"""Addresses hidden: in a group with `--addresses hidden` (the default for new groups) no member's
address reaches another member: not in list copies (headers or footer, plain copies too), digests,
`who`, `topics`, `get` or `search` answers. Over real SMTP, every byte of every mail the sink got
for each member is searched for every other member's address, as written and as URL-, QP- and
RFC 2047-encoded. The same scenario in a `shown` group shows them, so the search can fail."""
from __future__ import annotations

import base64
import email.utils
import json
import quopri
from email import message_from_bytes
from email.header import decode_header, make_header
from urllib.parse import quote, unquote

from conftest import DOMAIN, Env, mail, text_of, wait_for
from mailhub.compose import ListInfo, build_copy
from mailhub.config import REPO_TEMPLATES

POST = f"mentors@{DOMAIN}"
REQUEST = f"mentors-request@{DOMAIN}"
OWN, ANN, BOB, CAT, DEE, EVE = ("own@example.com", "ann@example.com", "bob@example.net", "cat@example.org",
                                "dee@example.com", "eve@example.com")
# address: (name, role, delivery). Bob and Eve have no name anywhere: they are "a member".
MEMBERS = {OWN: ("Olga", "owner", "each"), ANN: ("Ann Wanjiru", "member", "each"), BOB: ("", "mentor", "each"),
           CAT: ("Cat", "member", "each"), DEE: ("Dee", "member", "daily"), EVE: ("", "member", "weekly")}
PDF = b"%PDF-1.4\n" + bytes(range(256)) * 4

# Ann's mail names other members in To and Cc, and her own address in every header a mail program
# or her provider may add on the way: none of it may reach the others.
ANN_POST = (
    "Received: from ann-laptop (ann-laptop [192.0.2.7]) by smtp.example.com with ESMTPSA\r\n"
    "\tfor <ann@example.com>; Mon, 23 Nov 2026 10:00:00 +0000\r\n"
    "Authentication-Results: smtp.example.com; spf=pass smtp.mailfrom=ann@example.com;\r\n"
    "\tdkim=pass header.i=@example.com\r\n"
    "Received-SPF: pass (smtp.example.com: domain of ann@example.com designates 192.0.2.7)\r\n"
    "Autocrypt: addr=ann@example.com; keydata=bWFpbGh1Yg==\r\n"
    "X-Originating-Email: [ann@example.com]\r\n"
    "From: Ann Wanjiru <ann@example.com>\r\n"
    "Sender: ann@example.com\r\n"
    "Reply-To: Ann <Ann@Example.com>\r\n"
    f"To: mentors@{DOMAIN}, Bob <bob@example.net>\r\n"
    "Cc: cat@example.org, =?utf-8?q?Dee_W=C3=BC?= <DEE@example.com>, eve@example.com\r\n"
    "Subject: Pricing baskets\r\n"
    "Message-ID: <pricing-1@example.com>\r\n"
    "Date: Mon, 23 Nov 2026 10:00:00 +0000\r\n"
    "MIME-Version: 1.0\r\n"
    'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n'
    "--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHow do you price baskets for export?\r\n"
    '--b1\r\nContent-Type: application/pdf; name="prices.pdf"\r\n'
    'Content-Disposition: attachment; filename="prices.pdf"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
    + base64.encodebytes(PDF).decode().replace("\n", "\r\n") + "--b1--\r\n")


def readable(data: bytes) -> str:
    """Everything a mail program could show of `data`, lowercased: the bytes as they came, with
    quoted-printable undone (soft line breaks too), every header with RFC 2047 words decoded,
    every part's payload decoded, and all of it once more URL-decoded."""
    texts = [data.decode("latin-1"), quopri.decodestring(data).decode("latin-1")]
    msg = message_from_bytes(data)
    for part in msg.walk():
        for _, value in part.items():
            try:
                texts.append(str(make_header(decode_header(str(value)))))
            except (UnicodeError, LookupError, ValueError):
                pass
        if not part.is_multipart():
            texts.append((part.get_payload(decode=True) or b"").decode("utf-8", errors="replace"))
    return "\n".join(texts + [unquote(t) for t in texts]).lower()


def forms(address: str) -> set[str]:
    address = address.lower()
    return {address, quote(address, safe=""), address.replace("@", "=40"), address.replace("@", "%40")}


def exposures(sink, member: str) -> list[tuple[str, str]]:
    """(other member's address, subject of the mail it was in) for every other member's address in
    anything `member` received."""
    found = []
    for received in sink.to(member):
        text = readable(received.data)
        subject = str(make_header(decode_header(str(received.message["Subject"]))))
        found += [(other, subject) for other in MEMBERS if other != member
                  if any(f in text for f in forms(other))]
    return found


def ask(env: Env, sink, sender: str, body: str) -> str:
    """Send commands; return the text of the answer."""
    def answers() -> list:
        return [r.message for r in sink.to(sender) if "answer to your mail" in str(r.message["Subject"])]
    before = len(answers())
    env.send(mail(sender=sender, to=REQUEST, subject="", body=body), [REQUEST], mail_from=sender)
    return text_of(wait_for(lambda: len(answers()) > before and answers(), what=f"the answer to {sender}")[before])


def topic_key(env: Env, subject: str) -> str:
    return next(t["key"] for t in json.loads(env.cli("topics", "mentors", "--json").output) if t["subject"] == subject)


def copies(sink, member: str, subject: str) -> list:
    return [r.message for r in sink.to(member) if subject in str(r.message["Subject"])
            and "digest" not in str(r.message["Subject"]) and "answer" not in str(r.message["Subject"])]


def scenario(env: Env, sink, addresses: str | None) -> dict[str, str]:
    """Members post, reply, ask and get digests; returns the answers each member got."""
    env.cli("group", "create", "mentors", *(["--addresses", addresses] if addresses else []))
    env.cli("group", "set", "mentors", "--who", "members")
    for address, (name, role, delivery) in MEMBERS.items():
        env.cli("member", "add", "mentors", address, "--role", role, "--delivery", delivery,
                *(["--name", name] if name else []))
    env.cli("member", "set", "mentors", CAT, "--plain", "on")
    env.start()

    env.send(ANN_POST, [POST], mail_from=ANN)
    bobs = wait_for(lambda: copies(sink, BOB, "Pricing baskets"), what="Bob's copy")[0]
    env.drained()
    env.reply(bobs, "I add 30% to the cost of materials.", BOB)  # a bare address, no name anywhere
    wait_for(lambda: copies(sink, ANN, "Pricing baskets"), what="Ann's copy of Bob's reply")
    env.drained()
    env.send(mail(subject="Bookkeeping apps", body="Which app do you use for receipts?",
                  sender="Cat <cat@example.org>"), [POST], mail_from=CAT)
    wait_for(lambda: copies(sink, ANN, "Bookkeeping apps"), what="Ann's copy of Cat's post")
    env.drained()
    key = topic_key(env, "Bookkeeping apps")
    to = f"mentors+{key}@{DOMAIN}"  # the digest's reply link, as Dee would use it
    env.send(mail(subject="Re: Bookkeeping apps", body="A notebook and a phone photo of each receipt.",
                  sender="dee@example.com", to=to), [to], mail_from=DEE)
    wait_for(lambda: len(copies(sink, ANN, "Bookkeeping apps")) == 2, what="Ann's copy of Dee's reply")
    env.drained()

    pricing = topic_key(env, "Pricing baskets")
    answers = {m: ask(env, sink, m, f"who\ntopics\nget {pricing}\nget {key}\nsearch baskets") for m in MEMBERS}
    env.cli("digest", "send", "mentors")
    for reader in (DEE, EVE):
        wait_for(lambda reader=reader: [r for r in sink.to(reader) if "digest" in str(r.message["Subject"])],
                 what=f"{reader}'s digest")
    env.drained()
    return answers


def test_with_addresses_hidden_no_member_gets_another_members_address(env: Env, sink):
    answers = scenario(env, sink, None)  # hidden: the default of a new group
    assert json.loads(env.cli("group", "show", "mentors", "--json").output)["member_addresses"] == "hidden"
    for member in MEMBERS:
        assert exposures(sink, member) == [], member

    # Not because nothing came: each kind of mail came, and names people by name or "a member".
    copy = copies(sink, CAT, "Pricing baskets")[0]  # Cat's copies are plain text
    assert email.utils.parseaddr(copy["From"]) == ("Ann Wanjiru via mentors", POST)
    assert copy["To"] == POST and copy["Cc"] is None and copy["X-Original-From"] is None
    assert copy["Reply-To"] == f"<mentors+{topic_key(env, 'Pricing baskets')}@{DOMAIN}>"
    text = text_of(copy)
    assert "How do you price baskets" in text and "[Attachment not included: prices.pdf" in text
    # A private reply goes through the group: the footer gives a relay address, not Ann's.
    assert "Write to Ann Wanjiru privately (neither of you sees the other's address):\r\nmentors+p-" in text
    assert "Leave mentors" in text
    reply = copies(sink, OWN, "Pricing baskets")[1]
    assert email.utils.parseaddr(reply["From"]) == ("a member via mentors", POST)
    assert "Write to a member privately (neither of you sees the other's address):\r\nmentors+p-" in text_of(reply)

    who = answers[BOB]
    assert "6 members:" in who and "Ann Wanjiru" in who and "Olga - owner" in who and "a member - mentor" in who
    assert f"mentors+{topic_key(env, 'Pricing baskets')}@{DOMAIN}" in answers[EVE]  # topics: the group's own
    assert "---- Ann Wanjiru, " in answers[EVE] and "---- a member, " in answers[EVE]
    assert "I add 30% to the cost of materials." in answers[EVE]

    weekly = next(r.message for r in sink.to(EVE) if "Weekly digest" in str(r.message["Subject"]))
    daily = next(r.message for r in sink.to(DEE) if "Daily digest" in str(r.message["Subject"]))
    for digest in (weekly, daily):
        text = text_of(digest)
        assert "started by Ann Wanjiru" in text and "a member, " in text and "Dee, " in text


def test_with_addresses_shown_the_same_mail_shows_them(env: Env, sink):
    """The control: the search above finds addresses where a group shows them."""
    answers = scenario(env, sink, "shown")
    found = {(member, other) for member in MEMBERS for other, _ in exposures(sink, member)}
    assert (CAT, ANN) in found and (ANN, BOB) in found  # copies: footer, X-Original-From
    assert (EVE, ANN) in found  # digests and `get` answers name authors by their address
    assert all(address in answers[BOB] for address in MEMBERS)  # `who` lists every address
    copy = copies(sink, OWN, "Pricing baskets")[0]  # multipart: the footer is the last part
    assert "Write to Ann Wanjiru privately: ann@example.com" in text_of(copy.get_payload()[-1])
    assert copy["X-Original-From"] == "Ann Wanjiru <ann@example.com>"
    assert "bob@example.net" in copy["To"] and "cat@example.org" in copy["Cc"]  # as the author wrote them


# ---- the copy, without a server ----------------------------------------------------------------

INFO = ListInfo(name="mentors", title="Mentors", domain=DOMAIN, prefix="[mentors]", from_rewrite=True,
                topic_key="k3f9a", message_id="m1@example.com", hidden=True)


def hidden_copy(raw: str, **changes) -> tuple:  # noqa: ANN003
    from dataclasses import replace
    msg = message_from_bytes(build_copy(raw.encode(), replace(INFO, **changes), REPO_TEMPLATES)
                             .for_recipient("mentors-leave+tok@" + DOMAIN))
    return msg, text_of(msg)


def test_a_hidden_copy_keeps_what_describes_the_message_and_drops_the_rest():
    msg, _ = hidden_copy(ANN_POST)
    assert msg["To"] == POST and msg["Cc"] is None
    for name in ("Received", "Authentication-Results", "Received-SPF", "Autocrypt", "X-Originating-Email",
                 "Sender", "X-Original-From"):
        assert name not in msg, name
    assert msg["Message-ID"] == "<m1@example.com>" and msg["Date"] == "Mon, 23 Nov 2026 10:00:00 +0000"
    assert msg["Reply-To"] == f"<mentors+k3f9a@{DOMAIN}>" and msg["Subject"] == "[mentors] Pricing baskets"


def test_hidden_rewrites_from_even_where_the_group_turned_rewriting_off():
    msg, text = hidden_copy("From: Ann <ann@example.com>\r\nSubject: Hi\r\n\r\nHello\r\n", from_rewrite=False)
    assert email.utils.parseaddr(msg["From"]) == ("Ann via mentors", POST)
    assert "ann@example.com" not in msg.as_string()


def test_a_name_that_is_an_address_is_no_name_when_addresses_are_hidden():
    msg, _ = hidden_copy('From: "Ann (ann@example.com)" <ann@example.com>\r\nSubject: Hi\r\n\r\nHello\r\n')
    assert email.utils.parseaddr(msg["From"])[0] == "Ann via mentors"
    msg, _ = hidden_copy("From: 'ann@example.com' <ann@example.com>\r\nSubject: Hi\r\n\r\nHello\r\n")
    assert email.utils.parseaddr(msg["From"])[0] == "a member via mentors"


def test_the_fallback_name_is_in_the_readers_language(monkeypatch):
    class French:
        def gettext(self, text: str) -> str:
            return {"a member": "un membre"}.get(text, text)

    monkeypatch.setattr("mailhub.compose.translations", lambda language: French())
    msg = message_from_bytes(build_copy(b"From: ann@example.com\r\nSubject: Hi\r\n\r\nHello\r\n", INFO,
                                        REPO_TEMPLATES, language="fr").for_recipient("x@" + DOMAIN))
    assert email.utils.parseaddr(msg["From"])[0] == "un membre via mentors"


def test_addresses_the_author_wrote_in_their_own_text_stay():
    """mailhub does not rewrite what people write: an address in the subject or body is theirs to share."""
    msg, text = hidden_copy("From: Ann <ann@example.com>\r\nSubject: Call bob@example.net\r\n\r\n"
                            "Bob said to write to bob@example.net.\r\n")
    assert "bob@example.net" in str(msg["Subject"]) and "write to bob@example.net." in text
    assert "ann@example.com" not in msg.as_string()


def test_the_cli_sets_and_shows_the_choice(env: Env):
    created = env.cli("group", "create", "mentors").output
    assert "member addresses: hidden from other members" in created
    assert json.loads(env.cli("group", "show", "mentors", "--json").output)["member_addresses"] == "hidden"
    env.cli("group", "set", "mentors", "--addresses", "shown")
    assert "member_addresses: shown" in env.cli("group", "show", "mentors").output
    env.cli("group", "create", "mentees", "--addresses", "shown")
    assert json.loads(env.cli("group", "show", "mentees", "--json").output)["member_addresses"] == "shown"
    bad = env.cli("group", "set", "mentors", "--addresses", "secret", ok=False)
    assert bad.exit_code == 2
    assert "hidden" in env.cli("group", "set", "--help").output
