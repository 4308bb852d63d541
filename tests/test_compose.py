"""The list copy, built from stored bytes without a server."""
import email
from dataclasses import replace
from email import message_from_bytes
from email.header import decode_header, make_header
from email.message import EmailMessage
from email.policy import default
from datetime import datetime, timedelta, timezone

from mailhub import compose
from mailhub.compose import ListInfo, build_copy
from mailhub.config import REPO_TEMPLATES, DeliveryConfig
from mailhub.deliver import next_attempt
from mailhub.wire import has_long_line, short_lines

INFO = ListInfo(name="mentors", title="Mentors", domain="lists.example.org", prefix="[mentors]",
                from_rewrite=True, topic_key="k3f9a", message_id="m1@example.com")


def copy_of(raw: str, unsubscribe: str = "mentors-leave+tok@lists.example.org"):
    return message_from_bytes(build_copy(raw.encode(), INFO, REPO_TEMPLATES).for_recipient(unsubscribe))


def test_private_and_signature_headers_do_not_travel_into_copies():
    msg = copy_of("From: Ann <ann@example.com>\r\nBcc: secret@example.com\r\nReturn-Path: <ann@example.com>\r\n"
                  "DKIM-Signature: v=1; d=example.com\r\nDisposition-Notification-To: ann@example.com\r\n"
                  "List-Id: <other.example.net>\r\nSubject: Hi\r\nIn-Reply-To: <p@x>\r\nReferences: <p@x>\r\n\r\nbody\r\n")
    for name in ("Bcc", "Return-Path", "DKIM-Signature", "Disposition-Notification-To"):
        assert name not in msg, name
    assert msg["List-Id"] == '"Mentors" <mentors.lists.example.org>'
    assert msg["In-Reply-To"] == "<p@x>" and msg["References"] == "<p@x>"
    assert msg["Reply-To"] == "<mentors+k3f9a@lists.example.org>"
    assert msg["List-Unsubscribe"] == "<mailto:mentors-leave+tok@lists.example.org?subject=unsubscribe>"


def test_non_ascii_names_and_subjects_survive_encoded():
    msg = copy_of("From: =?utf-8?q?Zo=C3=AB?= <zoe@example.com>\r\nSubject: =?utf-8?q?Caf=C3=A9_plans?=\r\n"
                  "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
                  "Ça va ?\r\n")
    assert str(make_header(decode_header(msg["Subject"]))) == "[mentors] Café plans"
    assert "Zoë via mentors" in str(make_header(decode_header(msg["From"])))
    text = msg.get_payload(decode=True).decode("utf-8")
    assert text.startswith("Ça va ?") and "Write to Zoë privately: zoe@example.com" in text


def test_multipart_mail_keeps_its_parts_and_gets_the_footer_as_its_own_part():
    raw = ("From: ann@example.com\r\nSubject: Slides\r\nMIME-Version: 1.0\r\n"
           'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n'
           "--b1\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n"
           "--b1\r\nContent-Type: application/pdf; name=a.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n"
           "JVBERi0xLjQK\r\n--b1--\r\n")
    msg = copy_of(raw)
    parts = [p.get_content_type() for p in msg.walk()]
    assert parts == ["multipart/mixed", "text/plain", "application/pdf", "text/plain"]
    assert "Leave mentors" in msg.get_payload()[-1].get_payload(decode=True).decode()


def test_broken_mime_is_sent_with_its_body_untouched():
    raw = ("From: ann@example.com\r\nSubject: Broken\r\nMIME-Version: 1.0\r\n"
           'Content-Type: multipart/alternative; boundary="never-closed"\r\n\r\n'
           "--never-closed\r\nContent-Type: text/plain\r\n\r\nstill readable\r\n")
    msg = copy_of(raw)
    assert msg["Subject"] == "[mentors] Broken"
    assert "still readable" in msg.as_string()


def test_retries_back_off_doubling_up_to_the_cap_then_give_up():
    d = DeliveryConfig(retry_initial=60, retry_max=600, give_up_after=3600)
    t0 = datetime(2026, 11, 23, tzinfo=timezone.utc)
    waits = [(next_attempt(d, n, t0, t0) - t0).total_seconds() for n in range(1, 7)]
    assert waits == [60, 120, 240, 480, 600, 600]
    assert next_attempt(d, 3, t0, t0 + timedelta(seconds=3600)) is None


MIXED = ("From: Ann <ann@example.com>\r\nSubject: Report\r\nMIME-Version: 1.0\r\n"
         'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n'
         '--b1\r\nContent-Type: multipart/alternative; boundary="b2"\r\n\r\n'
         "--b2\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
         "Caf\u00e9 report attached.\r\n"
         "--b2\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>Caf\u00e9 <b>report</b> attached.</p>\r\n"
         "--b2--\r\n"
         "--b1\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=report.pdf\r\n"
         "Content-Transfer-Encoding: base64\r\n\r\n" + "QUFB" * 81920 + "\r\n--b1--\r\n")


def plain_copy_of(raw: str):
    copy = build_copy(raw.encode(), INFO, REPO_TEMPLATES, plain=True)
    return message_from_bytes(copy.for_recipient("mentors-leave+tok@lists.example.org"))


def test_plain_copy_is_one_text_part_naming_the_attachment_with_the_usual_headers():
    msg = plain_copy_of(MIXED)
    assert [p.get_content_type() for p in msg.walk()] == ["text/plain"]
    assert msg.get_content_charset() == "utf-8" and msg["Content-Transfer-Encoding"] == "quoted-printable"
    text = msg.get_payload(decode=True).decode("utf-8").replace("\r\n", "\n")
    assert text.startswith("Café report attached.\n\n"
                           "[Attachment not included: report.pdf (application/pdf, 240 KB)]\n\n-- \n")
    assert "<p>" not in text and "Leave mentors" in text
    assert msg["Subject"] == "[mentors] Report" and msg["From"] == "Ann via mentors <mentors@lists.example.org>"
    assert msg["Reply-To"] == "<mentors+k3f9a@lists.example.org>" and msg["Precedence"] == "list"
    assert msg["List-Unsubscribe"] == "<mailto:mentors-leave+tok@lists.example.org?subject=unsubscribe>"
    assert msg["MIME-Version"] == "1.0"


def test_plain_copy_of_an_html_only_post_is_its_text():
    msg = plain_copy_of("From: ann@example.com\r\nSubject: Hi\r\nContent-Type: text/html\r\n\r\n"
                        "<html><body><p>Hello <a href='https://example.org/guide'>the guide</a></p></body></html>\r\n")
    assert msg.get_content_type() == "text/plain" and msg["Content-Transfer-Encoding"] == "7bit"
    text = msg.get_payload(decode=True).decode("ascii").replace("\r\n", "\n")
    assert text.startswith("Hello the guide <https://example.org/guide>\n\n-- \n") and "<p>" not in text


def test_plain_copy_of_a_plain_post_matches_the_normal_copy():
    raw = "From: ann@example.com\r\nSubject: Hi\r\n\r\nJust text.\r\n"
    plain = build_copy(raw.encode(), INFO, REPO_TEMPLATES, plain=True)
    assert plain == build_copy(raw.encode(), INFO, REPO_TEMPLATES)


# ---- lines within 998 bytes (issue 17; over SMTP: tests/test_line_length.py) ----------------------

LONG = "x" * 1200  # one word, longer than a line may be


def wire_copy(raw: bytes, plain: bool = False) -> bytes:
    data = build_copy(raw, INFO, REPO_TEMPLATES, plain).for_recipient("mentors-leave+tok@lists.example.org")
    assert not has_long_line(data) and max(map(len, data.split(b"\r\n"))) <= 998
    return data


def test_an_8bit_part_with_a_long_line_is_re_encoded_and_decodes_to_the_same_bytes():
    line = "Meet at the café at noon, bring the notes. " * 30  # mostly Latin: quoted-printable
    raw = ('From: ann@example.com\r\nSubject: Hi\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n'
           f"\r\n--b\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{line}\r\n"
           f"--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{LONG}\r\n"
           "--b--\r\n").encode()
    text, blob, footer = message_from_bytes(wire_copy(raw)).get_payload()
    assert text["Content-Transfer-Encoding"] == "quoted-printable"
    assert text.get_payload(decode=True) == line.encode()  # the CRLF before a boundary is the boundary's
    assert blob["Content-Transfer-Encoding"] == "base64" and blob.get_payload(decode=True) == LONG.encode()
    assert "Leave mentors" in footer.get_payload(decode=True).decode()


def test_headers_too_long_for_a_line_are_folded_encoded_or_left_out():
    raw = (f"From: ann@example.com\r\nSubject: {LONG}\r\nMessage-ID: <{LONG}@example.com>\r\n"
           f"References: <parent@example.com> <{LONG}@example.com>\r\n"
           f"X-Mailer: {'Mailer 1.0 ' * 120}\r\n"
           f"X-Note: {'ünïcode wörds ' * 90}\r\n".encode()  # 8-bit, as RFC 6532 mail has it
           + f"Content-Type: text/plain\r\nContent-Disposition: inline; filename=\"{LONG}.txt\"\r\n\r\nHi\r\n".encode())
    copy = message_from_bytes(wire_copy(raw))
    assert str(make_header(decode_header(copy["Subject"]))) == f"[mentors] {LONG}"
    assert copy["Message-ID"] == "<m1@example.com>"  # the key it is stored under
    assert "References" not in copy  # an id no line can hold
    assert " ".join(copy["X-Mailer"].split()) == " ".join(("Mailer 1.0 " * 120).split())  # folded at its spaces
    assert copy.get_filename() == f"{LONG}.txt"  # RFC 2231 continuations


def test_a_long_line_in_the_body_sent_unchanged_is_re_encoded(monkeypatch):
    def broken(*args):
        raise ValueError("as mail the email package cannot take")
    monkeypatch.setattr(compose, "_add_footer", broken)
    one_part = ("From: ann@example.com\r\nSubject: Raw\r\nContent-Type: text/plain\r\n"
                f"Content-Transfer-Encoding: 8bit\r\n\r\n{LONG}\r\n").encode()
    copy = message_from_bytes(wire_copy(one_part))
    assert copy.get_payload(decode=True) == LONG.encode() + b"\r\n"  # the body exactly, re-encoded
    multipart = ('From: ann@example.com\r\nSubject: Raw\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; '
                 f'boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n{LONG}\r\n--b--\r\n').encode()
    copy = message_from_bytes(wire_copy(multipart))
    assert copy.get_content_type() == "text/plain"  # its text, as the text-only copy has it
    text = copy.get_payload(decode=True).decode()
    assert LONG in text and "Leave mentors" in text


def test_a_mail_attached_to_a_notice_as_it_came_is_re_encoded():
    notice = EmailMessage()
    notice["Subject"] = "Here it is"
    notice.set_content("The mail you asked for is attached.")
    notice.add_attachment(email.message_from_bytes(f"Subject: Old\r\n\r\n{LONG}\r\n".encode(), policy=default))
    data = short_lines(notice.as_bytes(policy=default.clone(linesep="\r\n")))
    assert not has_long_line(data)
    attached = message_from_bytes(data).get_payload()[1].get_payload(0)
    assert attached.get_payload(decode=True).rstrip() == LONG.encode()


def test_mail_without_a_date_gets_the_time_it_arrived():
    arrived = datetime(2026, 11, 23, 9, 30, 5)  # as SQLite gives it back: UTC, without a zone
    info = replace(INFO, received_at=arrived)
    raw = b"From: ann@example.com\r\nSubject: Hi\r\n\r\nbody\r\n"
    for plain in (False, True):
        copy = message_from_bytes(build_copy(raw, info, REPO_TEMPLATES, plain).for_recipient("x@example.org"))
        assert copy["Date"] == "Mon, 23 Nov 2026 09:30:05 +0000"
    dated = b"From: ann@example.com\r\nDate: Sun, 22 Nov 2026 08:00:00 +0100\r\nSubject: Hi\r\n\r\nbody\r\n"
    copy = message_from_bytes(build_copy(dated, info, REPO_TEMPLATES).for_recipient("x@example.org"))
    assert copy.get_all("Date") == ["Sun, 22 Nov 2026 08:00:00 +0100"]
