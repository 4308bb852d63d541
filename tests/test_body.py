"""extract_body: the text a reader sees and the attachments listed, from any mail, never an error.

Real messages live in tests/data/mime (origins and licences in its NOTICE); the rest are built
here, byte by byte, to show one rule at a time."""
from __future__ import annotations

import base64
import sys
import threading
import time
from pathlib import Path

import pytest

from mailhub.body import MAX_DEPTH, MAX_PARTS, Attachment, extract_body

DATA = Path(__file__).parent / "data" / "mime"


def sample(name: str) -> bytes:
    return (DATA / name).read_bytes()


def message(content_type: str, body: bytes, *headers: str) -> bytes:
    head = ["From: Ann <ann@example.org>", "Subject: test", "MIME-Version: 1.0",
            f"Content-Type: {content_type}", *headers]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def multipart(subtype: str, *parts: bytes, boundary: str = "XyZ") -> bytes:
    body = b"".join(b"--" + boundary.encode() + b"\r\n" + part + b"\r\n" for part in parts)
    return message(f'multipart/{subtype}; boundary="{boundary}"',
                   b"preamble nobody sees\r\n" + body + b"--" + boundary.encode() + b"--\r\n")


def part(content_type: str, body: bytes, *headers: str) -> bytes:
    return ("\r\n".join([f"Content-Type: {content_type}", *headers]) + "\r\n\r\n").encode() + body


# --- plain text -----------------------------------------------------------------------------------

def test_plain_text_comes_back_with_unix_line_endings_and_no_trailing_blank_lines():
    text, attachments = extract_body(message("text/plain; charset=utf-8", b"Hi all,\r\n\r\nSee you.\r\n\r\n\r\n"))
    assert text == "Hi all,\n\nSee you."
    assert attachments == ()


def test_message_without_any_mime_headers_is_read_as_plain_text():
    raw = b"From: ann@example.org\nSubject: old style\n\nJust text.\n"
    assert extract_body(raw) == ("Just text.", ())


def test_plain_alternative_is_preferred_over_html():
    raw = multipart("alternative",
                    part("text/plain; charset=utf-8", b"The plain words."),
                    part("text/html; charset=utf-8", b"<p>The <b>HTML</b> words.</p>"))
    assert extract_body(raw)[0] == "The plain words."


def test_empty_plain_alternative_falls_back_to_the_html_one():
    raw = multipart("alternative",
                    part("text/plain; charset=utf-8", b"\r\n  \r\n"),
                    part("text/html; charset=utf-8", b"<p>Only here.</p>"))
    assert extract_body(raw)[0] == "Only here."


# --- HTML -----------------------------------------------------------------------------------------

HTML_NEWSLETTER = b"""<html><head>
<style>p { color: red; } .hidden { display: none }</style>
<script>var tracking = "do-not-show";</script>
<title>Window title</title></head>
<body><p>Hi&nbsp;all &amp; welcome,</p>
<p>Please read <a href="https://example.org/guide">the guide</a> before Friday.<br>It is short.</p>
<ul><li>first point</li><li>second point</li></ul>
<p>Caf&eacute; at 5 &lt;sharp&gt; &#8212; see <a href="https://example.org/">https://example.org/</a></p>
</body></html>"""


def test_html_only_mail_becomes_readable_text():
    text, _ = extract_body(message("text/html; charset=utf-8", HTML_NEWSLETTER))
    assert "<" + "p>" not in text and "<a " not in text and "</" not in text
    assert "color: red" not in text and "do-not-show" not in text and "Window title" not in text
    assert "Hi all & welcome," in text
    # the link keeps its words and, in plain text, its target; a bare URL is not repeated
    assert "the guide <https://example.org/guide> before Friday." in text
    assert text.endswith("Café at 5 <sharp> — see https://example.org/")
    # paragraphs stay apart, a <br> breaks the line, list items get a line each
    assert "Hi all & welcome,\n\nPlease read" in text
    assert "before Friday.\nIt is short." in text
    assert "* first point\n" in text and "* second point" in text


def test_html_link_whose_words_are_its_address_is_not_repeated():
    html = (b'<p><a href="https://x.org/more">more</a>, <a href="http://www.x.org/">x.org</a>, '
            b'<a href="mailto:ann@x.org">ann@x.org</a>, <a href="mailto:ann@x.org">Ann</a></p>')
    text, _ = extract_body(message("text/html; charset=utf-8", html))
    assert text == "more <https://x.org/more>, x.org, ann@x.org, Ann <ann@x.org>"


def test_html_without_mime_charset_uses_the_charset_of_its_meta_tag():
    html = '<html><head><meta http-equiv="Content-Type" content="text/html; charset=iso-8859-2">' \
           "</head><body>Zażółć gęślą jaźń</body></html>"
    assert extract_body(message("text/html", html.encode("iso-8859-2")))[0] == "Zażółć gęślą jaźń"


def test_html_body_with_a_content_location_is_still_the_body():
    raw = message("text/html; charset=utf-8", b"<p>Saved from Outlook</p>",
                  "Content-Location: file:///C:/Users/ann/body.htm")
    assert extract_body(raw) == ("Saved from Outlook", ())


def test_inline_image_named_only_by_content_location_gets_that_name():
    raw = multipart("mixed", part("text/plain", b"Photo:"),
                    part("image/jpeg", b"jpg", "Content-Disposition: inline", "Content-Location: Photo25.jpg"))
    assert extract_body(raw)[1] == (Attachment("Photo25.jpg", "image/jpeg", 3),)


def test_html_quotes_become_quoted_lines_for_each_level():
    html = (b"<div>My answer.</div><div>On Monday Bob wrote:</div>"
            b"<blockquote>His point<blockquote>Older point</blockquote></blockquote>")
    text, _ = extract_body(message("text/html; charset=utf-8", html))
    assert text.startswith("My answer.\nOn Monday Bob wrote:\n")
    assert "> His point" in text and "> > Older point" in text


def test_html_part_in_mixed_mail_without_plain_alternative_is_converted():
    raw = multipart("mixed",
                    part("text/html; charset=utf-8", b"<div>Report <i>attached</i>.</div>"),
                    part("application/pdf", base64.b64encode(b"%PDF-1.4 fake"),
                         "Content-Transfer-Encoding: base64",
                         'Content-Disposition: attachment; filename="report.pdf"'))
    text, attachments = extract_body(raw)
    assert text == "Report attached."
    assert attachments == (Attachment("report.pdf", "application/pdf", 13),)


def test_html_with_images_reads_its_root_and_lists_the_images():
    raw = multipart("related",
                    part("text/html; charset=utf-8", b'<p>Logo below</p><img src="cid:logo@x">'),
                    part("image/png", base64.b64encode(b"\x89PNG....."),
                         "Content-Transfer-Encoding: base64", "Content-ID: <logo@x>"))
    assert extract_body(raw) == ("Logo below", (Attachment("", "image/png", 9),))


def test_real_html_only_newsletter_reads_as_text_with_its_links():
    text, attachments = extract_body(sample("content_transfer_encoding_with_8bits.eml"))
    assert "Holiday Gift Ideas for the Computer Professional!" in text
    assert "Nostromo n45 Dual Analog USB Gamepad <http://www.provantage.com/" in text
    assert "<td" not in text.lower() and "<font" not in text.lower() and "&nbsp;" not in text
    assert attachments == ()


# --- format=flowed (RFC 3676) --------------------------------------------------------------------

def flowed(body: str, delsp: bool = False) -> str:
    params = "text/plain; charset=utf-8; format=flowed" + ("; delsp=yes" if delsp else "")
    return extract_body(message(params, body.replace("\n", "\r\n").encode()))[0]


def test_flowed_soft_line_breaks_are_joined_into_one_line():
    assert flowed("This paragraph was \nwrapped by the \nsender.\nNew line.\n") == \
        "This paragraph was wrapped by the sender.\nNew line."


def test_flowed_delsp_yes_removes_the_space_that_marked_the_soft_break():
    assert flowed("A long word was hyphen \nated here.\n", delsp=True) == "A long word was hyphenated here."


def test_flowed_space_stuffing_is_removed():
    assert flowed(" From the start\n >not a quote\n") == "From the start\n>not a quote"


def test_flowed_signature_separator_is_not_joined_with_the_signature():
    assert flowed("Thanks, \nAnn\n-- \nAnn Example\n") == "Thanks, Ann\n-- \nAnn Example"


def test_flowed_quoted_lines_join_only_within_the_same_quote_depth():
    body = "> Quoted soft \n> end.\n>> Deeper soft \n>> end.\n> back \nMy reply.\n"
    assert flowed(body) == "> Quoted soft end.\n>> Deeper soft end.\n> back \nMy reply."


# --- charsets -------------------------------------------------------------------------------------

@pytest.mark.parametrize("content_type, body, expected", [
    ("text/plain; charset=iso-8859-1", "café ✓".encode(), "café ✓"),  # UTF-8 declared as Latin-1
    ("text/plain; charset=windows-1250", "Zażółć".encode(), "Zażółć"),  # UTF-8 declared as cp1250
    ("text/plain; charset=koi8-r", "Привет".encode("koi8-r"), "Привет"),  # declared right
    ("text/plain; charset=utf-8", "café".encode("cp1252"), "café"),  # Latin-1 declared as UTF-8
    ("text/plain; charset=us-ascii", "naïve".encode(), "naïve"),  # 8-bit under "us-ascii"
    ("text/plain; charset=x-unknown", "Grüße".encode(), "Grüße"),
    ("text/plain; charset=utf8mb4", "emoji 🎉".encode(), "emoji 🎉"),
    ("text/plain; charset=\"no-such-charset\"", "ça va".encode(), "ça va"),
    ("text/plain", "“smart quotes” — €5".encode("cp1252"), "“smart quotes” — €5"),  # no charset
    ("text/plain", "żółw".encode(), "żółw"),  # no charset, UTF-8
    ("text/plain; charset=windows-1252", b"\x81 undefined byte", "\ufffd undefined byte"),
])
def test_wrong_unknown_and_missing_charsets_decode_to_the_intended_text(content_type, body, expected):
    assert extract_body(message(content_type, body, "Content-Transfer-Encoding: 8bit"))[0] == expected


@pytest.mark.parametrize("charset", ["zlib", "base64", "rot13", "idna", "utf-16", "\"", "utf-8\x00"])
def test_charset_names_that_are_not_text_encodings_do_not_break_decoding(charset):
    text, _ = extract_body(message(f"text/plain; charset={charset}", b"plain \xff\xfe words"))
    assert "words" in text or text  # something readable, and above all no exception


def test_broken_utf8_keeps_the_good_characters_and_marks_the_bad_ones():
    text, _ = extract_body(message("text/plain; charset=utf-8", "Grüße ".encode() + b"\xff end"))
    assert text == "Grüße \ufffd end"


def test_korean_and_japanese_legacy_charsets_decode():
    assert extract_body(sample("ks_c_5601-1987.eml"))[0] == "스티해"
    assert extract_body(sample("japanese_shift_jis.eml"))[0].startswith("あいうえお")


# --- transfer encodings ---------------------------------------------------------------------------

@pytest.mark.parametrize("encoded", [
    b"SGVsbG8gd29y\r\n!!bGQ=\r\n",  # junk characters between lines
    b"SGVsbG8gd29ybGQ\r\n",  # padding missing
    b"SGVsbG8g\r\nd29ybGQ=\r\n=\r\n",  # stray padding at the end
    b"SGVsbG8gd29ybGQx",  # one character too many for a whole byte: dropped
])
def test_broken_base64_decodes_what_it_can(encoded):
    raw = message("text/plain; charset=utf-8", encoded, "Content-Transfer-Encoding: base64")
    assert extract_body(raw)[0] in ("Hello world", "Hello world1")


def test_base64_padded_line_by_line_is_not_cut_at_the_first_padding():
    lines = b"\r\n".join(base64.b64encode(w) for w in (b"one ", b"two ", b"three"))
    raw = message("text/plain", lines, "Content-Transfer-Encoding: base64")
    assert extract_body(raw)[0] == "one two three"


def test_broken_quoted_printable_keeps_the_text():
    raw = message("text/plain; charset=iso-8859-1", b"caf=E9 soft=\r\nbreak, bad =ZZ and =4",
                  "Content-Transfer-Encoding: Quoted-Printable ;")
    assert extract_body(raw)[0] == "café softbreak, bad =ZZ and =4"


# --- attachments ----------------------------------------------------------------------------------

def test_attachments_are_listed_with_name_type_and_decoded_size_and_kept_out_of_the_text():
    pdf, jpeg = b"%PDF-1.4 secret pdf words", b"\xff\xd8\xff secret jpeg"
    raw = multipart("mixed",
                    part("text/plain; charset=utf-8", b"See the files."),
                    part("application/pdf; name=old.pdf", base64.b64encode(pdf),
                         "Content-Transfer-Encoding: base64",
                         'Content-Disposition: attachment; filename="minutes.pdf"'),
                    part("text/csv", b"secret,csv,words\r\n1,2,3",
                         'Content-Disposition: attachment; filename="data.csv"'),
                    part("text/plain; name=notes.txt", b"secret notes words"),
                    part("image/jpeg", base64.b64encode(jpeg),
                         "Content-Transfer-Encoding: base64"))
    text, attachments = extract_body(raw)
    assert text == "See the files." and "secret" not in text
    assert attachments == (
        Attachment("minutes.pdf", "application/pdf", len(pdf)),
        Attachment("data.csv", "text/csv", 23),
        Attachment("notes.txt", "text/plain", 18),
        Attachment("", "image/jpeg", len(jpeg)),
    )


def test_real_pdf_attachment_is_listed_and_the_text_kept():
    text, attachments = extract_body(sample("attachment_pdf.eml"))
    assert text.startswith("Just attaching another PDF, here, to see what the message looks like,")
    assert attachments == (Attachment("broken.pdf", "application/pdf", 1026),)


def test_real_image_attachment_is_listed_and_the_text_kept():
    assert extract_body(sample("cpython_msg_07.txt")) == (
        "Hi there,\n\nThis is the dingus fish.", (Attachment("dingusfish.gif", "image/gif", 3512),))


def test_text_split_around_an_attachment_is_joined():
    raw = multipart("mixed",
                    part("text/plain; charset=utf-8", b"Before the photo.\r\n"),
                    part("image/png", base64.b64encode(b"png"), "Content-Transfer-Encoding: base64",
                         'Content-Disposition: inline; filename="photo.png"'),
                    part("text/plain; charset=utf-8", b"\r\nAfter the photo."))
    assert extract_body(raw) == ("Before the photo.\n\nAfter the photo.",
                                 (Attachment("photo.png", "image/png", 3),))


def test_rfc2231_filename_is_decoded():
    raw = multipart("mixed", part("application/octet-stream", b"12345",
                                  "Content-Disposition: attachment; filename*=iso-8859-1''r%E9sum%E9.pdf"))
    assert extract_body(raw)[1] == (Attachment("résumé.pdf", "application/octet-stream", 5),)


def test_rfc2231_filename_continued_over_several_parameters_is_decoded():
    _, attachments = extract_body(sample("japanese_attachment_long_name.eml"))
    assert attachments == (Attachment("かきくけこ" * 5 + ".txt", "text/plain", 18),)


def test_rfc2047_filename_is_decoded():
    raw = multipart("mixed", part('application/pdf; name="=?UTF-8?B?w7xiZXIucGRm?="', b"x",
                                  'Content-Disposition: attachment; filename="=?UTF-8?Q?=C3=BCber.pdf?="'))
    assert extract_body(raw)[1] == (Attachment("über.pdf", "application/pdf", 1),)


def test_raw_utf8_filename_is_decoded():
    _, attachments = extract_body(sample("attachment_nonascii_filename.eml"))
    assert attachments == (Attachment("ciële.txt", "text/plain", 11),)


def test_filename_with_a_windows_path_keeps_only_the_name():
    raw = multipart("mixed", part("application/msword", b"doc",
                                  'Content-Disposition: attachment; filename="C:\\\\Users\\\\ann\\\\plan.doc"'))
    assert extract_body(raw)[1] == (Attachment("plan.doc", "application/msword", 3),)


def test_forwarded_message_is_an_attachment_named_after_its_subject_and_not_inlined():
    text, attachments = extract_body(sample("attachment_message_rfc822.eml"))
    assert text == "This is the first part."
    assert attachments == (Attachment("Another PDF", "message/rfc822", 3781),)


def test_digest_parts_are_forwarded_messages_named_after_their_subjects():
    text, attachments = extract_body(sample("cpython_msg_02.txt"))
    assert text.startswith("Send Ppp mailing list submissions to")
    assert "Today's Topics:" in text and "hello" not in text
    assert [a.filename for a in attachments] == [
        "[Ppp] testing #1", "forwarded message", "[Ppp] testing #3", "[Ppp] testing #4", "[Ppp] testing #5"]
    assert {a.content_type for a in attachments} == {"message/rfc822"}


def test_forwarded_message_without_subject_is_called_forwarded_message():
    inner = b"From: bob@example.org\r\n\r\nInner words stay out."
    raw = multipart("mixed", part("text/plain", b"FYI"), part("message/rfc822", inner))
    assert extract_body(raw) == ("FYI", (Attachment("forwarded message", "message/rfc822", len(inner)),))


def test_boundaries_that_prefix_one_another_are_kept_apart():
    text, attachments = extract_body(sample("email_with_similar_boundaries.eml"))
    assert text == "Test"
    assert attachments == (Attachment("LOGO.png", "application/octetstream", 3),)


# --- bounded work and bad structure ---------------------------------------------------------------

def nested(depth: int) -> bytes:
    head = "".join(f'Content-Type: multipart/mixed; boundary="b{i}"\r\n\r\n--b{i}\r\n' for i in range(depth))
    tail = "".join(f"\r\n--b{i}--" for i in reversed(range(depth)))
    return ("From: ann@example.org\r\n" + head + "Content-Type: text/plain\r\n\r\ninnermost" + tail).encode()


def test_text_nested_within_the_depth_limit_is_found():
    assert extract_body(nested(MAX_DEPTH))[0] == "innermost"


def test_very_deep_nesting_is_cut_off_quickly_without_recursion_error():
    start = time.perf_counter()
    assert extract_body(nested(20_000)) == ("", ())  # the stdlib parser dies near 2,000 levels
    assert time.perf_counter() - start < 5


def gifs(count: int) -> list[bytes]:
    return [part("image/gif", b"GIF89a", f'Content-Disposition: attachment; filename="{i}.gif"')
            for i in range(count)]


def test_huge_part_count_stops_at_the_part_limit_quickly():
    start = time.perf_counter()
    text, attachments = extract_body(multipart("mixed", part("text/plain", b"first words"), *gifs(50_000)))
    assert time.perf_counter() - start < 5
    assert text == "first words"
    assert 0 < len(attachments) < MAX_PARTS
    assert attachments[0] == Attachment("0.gif", "image/gif", 6)


def test_part_limit_counts_parts_across_all_nested_multiparts():
    groups = [part('multipart/mixed; boundary="g%d"' % g,
                   b"".join(b"--g%d\r\n" % g + p + b"\r\n" for p in gifs(100)) + b"--g%d--" % g)
              for g in range(50)]
    _, attachments = extract_body(multipart("mixed", *groups))
    assert 0 < len(attachments) < MAX_PARTS


def test_boundary_text_inside_a_line_does_not_split_the_part():
    raw = multipart("mixed", part("text/plain", b"A line ending in --XyZ--\r\nand in --XyZ\r\nstill one part."))
    assert extract_body(raw)[0] == "A line ending in --XyZ--\nand in --XyZ\nstill one part."


def test_multipart_whose_boundary_never_appears_shows_its_body():
    raw = message('multipart/mixed; boundary="missing"', b"Words without any parts.")
    assert extract_body(raw) == ("Words without any parts.", ())


def test_multipart_missing_its_closing_boundary_keeps_the_last_part():
    raw = message('multipart/mixed; boundary="b"', b"--b\r\nContent-Type: text/plain\r\n\r\nUnclosed part.\r\n")
    assert extract_body(raw)[0] == "Unclosed part."


@pytest.mark.parametrize("raw", [
    b"",
    b"\x00\xff\xfe garbage without headers",
    b"Subject: only headers",
    b"Content-Type: multipart/mixed\r\n\r\n--\r\n",  # no boundary parameter
    b"Content-Type: multipart/alternative; boundary=\"\"\r\n\r\n----\r\n",
    b"Content-Type: text/plain; charset=\"=?utf-8?q?x?=\"\r\n\r\n\xc3",
    b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: message/rfc822\r\n\r\n",
    b"Content-Type: application/pdf; name*0*=bad''%ZZ; name*1=x\r\nContent-Transfer-Encoding: x-uuencode\r\n"
    b"\r\nbegin 644 a\r\n#86)C\r\nM!!!\r\nend\r\n",
    b"Content-Type: text/html\r\n\r\n<?xml version='1.0' encoding='utf-8'?><html><body>"
    + b"<div>" * 5000 + b"deep",
    b"Content-Type: text/html\r\n\r\n<script>never closed " + b"<b>" * 1000,
])
def test_malformed_mail_never_raises(raw, caplog):
    text, attachments = extract_body(raw)
    assert isinstance(text, str) and isinstance(attachments, tuple)
    # handled part by part, not by the last-resort "show the raw body" path
    assert "body extraction failed" not in caplog.text


def test_every_sample_message_extracts_without_error():
    samples = sorted(p for p in DATA.iterdir() if p.name != "NOTICE")
    assert len(samples) >= 10
    for path in samples:
        text, attachments = extract_body(path.read_bytes())
        assert isinstance(text, str) and "\r" not in text, path.name
        assert all(isinstance(a, Attachment) and a.size >= 0 for a in attachments), path.name


def test_html_converted_in_several_threads_at_once_keeps_each_message_its_own_text():
    def html(word: str) -> bytes:
        return message("text/html; charset=utf-8", f"<p>{word}</p>".encode() * 50)

    expected = {word: extract_body(html(word))[0] for word in ("alpha", "omega")}
    wrong: list[str] = []

    def convert(word: str) -> None:
        wrong.extend(word for _ in range(100) if extract_body(html(word))[0] != expected[word])

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads mid-conversion as often as possible
    try:
        threads = [threading.Thread(target=convert, args=(w,)) for w in ("alpha", "omega") * 4]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert wrong == []


def test_small_message_takes_well_under_a_millisecond():
    raw = multipart("alternative",
                    part("text/plain; charset=utf-8; format=flowed", b"Hi all, \r\nsee you Friday.\r\n\r\nAnn"),
                    part("text/html; charset=utf-8", b"<p>Hi all, see you Friday.</p><p>Ann</p>"))
    runs = 200
    best = min(_timed(raw, runs) for _ in range(3))
    assert best / runs < 0.001


def _timed(raw: bytes, runs: int) -> float:
    start = time.perf_counter()
    for _ in range(runs):
        extract_body(raw)
    return time.perf_counter() - start
