"""Members who asked for plain text get one text/plain part over real SMTP: no HTML, and each
attachment named instead of sent. Everyone else still gets the post as written."""
from __future__ import annotations

import base64
import re

from conftest import DOMAIN, mail, text_of

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
    text = body_of(plain)
    assert text.startswith("The schedule for next term is attached.\n\n[Attachment not included: schedule.pdf "
                           "(application/pdf, 3 KB). To get it, send \"get attachment "), text
    assert re.search(r'get attachment \d+\.4" to mentors-request@lists.example.org\]\n\n-- \n', text), text
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


def attachment_ref(text: str) -> str:
    found = re.search(r'get attachment (\d+\.\d+)"', text)
    assert found, text
    return found.group(1)


def ask(env, sender: str, command: str) -> None:
    request = f"mentors-request@{DOMAIN}"
    env.send(mail(subject="", body=command, sender=sender, to=request), [request], mail_from=sender)


def test_get_attachment_mails_the_file_to_a_member_and_to_no_one_else(env, sink):
    start_with_one_plain_member(env)
    env.send(mail(subject="Schedule", body=MIXED_BODY, headers=MIXED_HEADERS), [POST])
    ref = attachment_ref(body_of(sink.wait(PLAIN)[0]))

    ask(env, PLAIN, f"get attachment {ref}")
    answer = sink.wait(PLAIN, 2)[1]
    files = [p for p in answer.walk() if p.get_filename()]
    assert [(f.get_filename(), f.get_content_type()) for f in files] == [("schedule.pdf", "application/pdf")]
    assert files[0].get_payload(decode=True) == PDF
    assert "Here it is: schedule.pdf (3 KB)" in text_of(answer)

    stranger = "eve@example.net"
    ask(env, stranger, f"get attachment {ref}")
    refused = sink.wait(stranger)[0]
    assert not any(p.get_filename() for p in refused.walk())
    assert "not a member" in text_of(refused), text_of(refused)

    ask(env, PLAIN, "get attachment 99999.4\nget attachment 1.2.3")
    wrong = text_of(sink.wait(PLAIN, 3)[2])
    assert "could not find attachment 99999.4" in wrong
    assert "get attachment ID" in wrong  # the malformed one is explained
    assert not any(p.get_filename() for p in sink.wait(PLAIN, 3)[2].walk())


def test_get_attachment_does_not_reach_into_another_group(env, sink):
    env.group("mentors", "ann@example.com", PLAIN)
    env.cli("member", "set", "mentors", PLAIN, "--plain", "on")
    env.group("staff", "ann@example.com", "zed@example.com")
    env.start()
    env.send(mail(subject="Schedule", body=MIXED_BODY, headers=MIXED_HEADERS), [POST])
    ref = attachment_ref(body_of(sink.wait(PLAIN)[0]))
    env.send(mail(subject="", body=f"get attachment {ref}", sender="zed@example.com", to=f"staff-request@{DOMAIN}"),
             [f"staff-request@{DOMAIN}"], mail_from="zed@example.com")
    answer = sink.wait("zed@example.com")[0]
    assert f"could not find attachment {ref} in staff" in text_of(answer)
    assert not any(p.get_filename() for p in answer.walk())


def test_attachments_over_the_group_limit_are_named_in_every_copy(env, sink):
    small = b"name,phone\r\nAnn,1\r\n"
    body = MIXED_BODY.replace("--outer--", "--outer\r\nContent-Type: text/csv; name=contacts.csv\r\n"
                              "Content-Disposition: attachment; filename=contacts.csv\r\n\r\n"
                              + small.decode() + "--outer--")
    env.group("mentors", "ann@example.com", NORMAL)
    env.cli("group", "set", "mentors", "--max-attachment-size", "2KB")
    assert "max_attachment_size: 2 KB" in env.cli("group", "show", "mentors").output
    env.start()
    env.send(mail(subject="Schedule", body=body, headers=MIXED_HEADERS), [POST])
    copy = sink.wait(NORMAL)[0]
    parts = [p.get_content_type() for p in copy.walk()]
    assert parts == ["multipart/mixed", "multipart/alternative", "text/plain", "text/html",
                     "text/plain", "text/csv", "text/plain"]
    named = list(copy.walk())[4]
    assert body_of(named).startswith("[Attachment not included: schedule.pdf (application/pdf, 3 KB). "
                                     'To get it, send "get attachment ')
    assert named.get_filename() is None and b"%PDF" not in copy.as_bytes()
    csv = list(copy.walk())[5]
    assert csv.get_filename() == "contacts.csv" and csv.get_payload(decode=True) == small.rstrip()  # CRLF before
    # the boundary belongs to the boundary
    # The HTML and text alternatives are untouched.
    assert "<b>schedule</b>" in list(copy.walk())[3].get_payload(decode=True).decode()


def test_max_attachment_size_rejects_nonsense(env):
    env.group("mentors")
    result = env.cli("group", "set", "mentors", "--max-attachment-size", "big", ok=False)
    assert result.exit_code == 1 and "--max-attachment-size takes a size like 1MB" in result.output
