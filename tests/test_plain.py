"""Members who asked for plain text get one text/plain part over real SMTP: no HTML, and each
attachment named instead of sent. Everyone else still gets the post as written."""
from __future__ import annotations

import base64

from conftest import DOMAIN, mail

POST = f"mentors@{DOMAIN}"
PLAIN, NORMAL = "bea@example.com", "cem@example.com"
PDF = b"%PDF-1.4\n" + b"0" * 3063  # 3 KB once decoded

MIXED_HEADERS = 'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="outer"\r\n'
MIXED_BODY = (
    '--outer\r\nContent-Type: multipart/alternative; boundary="alt"\r\n\r\n'
    "--alt\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nThe schedule for next term is attached.\r\n"
    "--alt\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
    "<p>The <b>schedule</b> for next term is attached.</p>\r\n--alt--\r\n"
    "--outer\r\nContent-Type: application/pdf; name=schedule.pdf\r\n"
    "Content-Disposition: attachment; filename=schedule.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    + base64.encodebytes(PDF).decode().replace("\n", "\r\n") + "--outer--")


def start_with_one_plain_member(env):
    env.group("mentors", "ann@example.com", PLAIN, NORMAL)
    env.cli("member", "set", "mentors", PLAIN, "--plain", "on")
    env.start()


def body_of(msg) -> str:
    return msg.get_payload(decode=True).decode(msg.get_content_charset()).replace("\r\n", "\n")


def test_plain_member_gets_one_text_part_naming_the_attachment_others_get_it_all(env, sink):
    start_with_one_plain_member(env)
    env.send(mail(subject="Schedule", body=MIXED_BODY, headers=MIXED_HEADERS), [POST])
    plain, normal = (sink.wait(address)[0] for address in (PLAIN, NORMAL))

    parts = [p.get_content_type() for p in normal.walk()]
    assert parts == ["multipart/mixed", "multipart/alternative", "text/plain", "text/html",
                     "application/pdf", "text/plain"]
    pdf = next(p for p in normal.walk() if p.get_content_type() == "application/pdf")
    assert pdf.get_payload(decode=True) == PDF

    assert [p.get_content_type() for p in plain.walk()] == ["text/plain"]
    assert body_of(plain).startswith("The schedule for next term is attached.\n\n"
                                     "[Attachment not included: schedule.pdf (application/pdf, 3 KB)]\n\n-- \n")
    assert "Leave mentors" in body_of(plain) and "<p>" not in plain.as_string()
    # Every header treatment is the same; only the member's own unsubscribe line differs.
    for name in ("From", "Subject", "Reply-To", "List-Id", "List-Post", "Message-ID", "Precedence"):
        assert plain[name] == normal[name], name
    assert plain["Subject"] == "[mentors] Schedule"
    assert plain["List-Unsubscribe"].startswith("<mailto:mentors-leave+")


def test_html_only_post_arrives_as_text_for_the_plain_member(env, sink):
    start_with_one_plain_member(env)
    env.send(mail(subject="Links", headers="MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n",
                  body="<html><body><p>Read <a href='https://example.org/guide'>the guide</a> first.</p>"
                       "<ul><li>one</li><li>two</li></ul></body></html>"), [POST])
    plain, normal = (sink.wait(address)[0] for address in (PLAIN, NORMAL))
    assert normal.get_content_type() == "multipart/mixed"
    assert [p.get_content_type() for p in normal.walk()][1] == "text/html"
    assert plain.get_content_type() == "text/plain" and not plain.is_multipart()
    text = body_of(plain)
    assert text.startswith("Read the guide <https://example.org/guide> first.\n")
    assert "one" in text and "two" in text and "<p>" not in text and "Leave mentors" in text


def test_plain_flag_can_be_turned_off_again(env, sink):
    env.group("mentors", "ann@example.com", PLAIN)
    env.cli("member", "set", "mentors", PLAIN, "--plain", "on")
    env.cli("member", "set", "mentors", PLAIN, "--plain", "off")
    env.start()
    env.send(mail(subject="Schedule", body=MIXED_BODY, headers=MIXED_HEADERS), [POST])
    copy = sink.wait(PLAIN)[0]
    assert "application/pdf" in [p.get_content_type() for p in copy.walk()]
