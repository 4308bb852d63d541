"""new_text(): the words a member wrote, without quoted history, attributions, Outlook and
forwarded blocks, signatures and phone footers."""
from __future__ import annotations

import email
import email.policy
import html
import importlib.util
import json
import random
import re
import time
from pathlib import Path

import pytest

from mailhub.quotes import new_text, written_text

DATA = Path(__file__).parent / "data" / "replies"
# Fixture path (relative to DATA) -> the words its author wrote; see DATA / "NOTICE".
EXPECTED: dict[str, str] = json.loads((DATA / "expected.json").read_text(encoding="utf-8"))

QUOTE = "> Can we move the session to Thursday?\n>\n> Ann\n"


def fixture_body(path: Path) -> str:
    raw = path.read_bytes()
    if path.suffix != ".eml":
        return raw.decode("utf-8")
    message = email.message_from_bytes(raw, policy=email.policy.default)
    part = message.get_body(preferencelist=("plain", "html"))
    content = part.get_content()
    if part.get_content_type() == "text/html":
        content = html.unescape(re.sub(r"<[^>]*>", "", re.sub(r"(?i)<br\s*/?>|</p>|</div>", "\n", content)))
    return content


def normalise(text: str) -> str:
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


# --- quoted lines ---------------------------------------------------------------------------

def test_quoted_lines_are_removed_at_any_depth_and_without_a_space():
    text = "Thursday works for me.\n\n> Can we move it?\n> > Original plan: Tuesday\n>>Deeper\n>tight\n"
    assert new_text(text) == "Thursday works for me."


def test_answers_written_between_quotes_are_kept():
    text = "> First question?\nFirst answer.\n\n> Second question?\n> > older context\n\nSecond answer.\n"
    assert new_text(text) == "First answer.\n\nSecond answer."


def test_history_below_a_top_posted_attribution_is_dropped_even_when_unquoted():
    text = ("Sounds good to me.\n\n"
            "On Mon, Feb 1, 2021 at 10:00 AM Ann Smith <ann@example.com> wrote:\n"
            "> Can we move the session to a later\n"
            "date, maybe Thursday?\n"
            "> Ann\n\n"
            "_______________________________________________\n"
            "mentors mailing list\n")
    assert new_text(text) == "Sounds good to me."


def test_bottom_posted_reply_under_the_quote_is_kept():
    text = "On 04/02/2021 06:26 PM, Ann Smith wrote:\n> Can we move it?\n\nYes, Thursday is fine.\n"
    assert new_text(text) == "Yes, Thursday is fine."


def test_greeting_above_interleaved_answers_is_kept_with_the_answers():
    text = ("Hi Ann,\n\nOn Mon, Feb 1, 2021 at 10:00 AM Ann Smith <ann@example.com> wrote:\n"
            "> Can we move the session?\nYes.\n> To Thursday?\n\nThursday at 10 works.\n\n-- \nBob\n")
    assert new_text(text) == "Hi Ann,\n\nYes.\n\nThursday at 10 works."


# --- attribution lines ----------------------------------------------------------------------

ATTRIBUTIONS = {
    "english gmail": "On Mon, Feb 1, 2021 at 10:00 AM Ann Smith <ann@example.com> wrote:",
    "english apple mail": "On 1 Feb 2021, at 10:00, Ann Smith <ann@example.com> wrote:",
    "english without address": "On 01/02/2021 10:00, Ann Smith wrote:",
    "french": "Le lun. 1 févr. 2021 à 10:00, Jean Dupont <jean@example.fr> a écrit :",
    "german": "Am Mo., 1. Feb. 2021 um 10:00 Uhr schrieb Hans Müller <hans@example.de>:",
    "german apple mail": "Am 01.02.2021 um 10:00 schrieb Hans Müller <hans@example.de>:",
    "dutch": "Op ma 1 feb. 2021 om 10:00 schreef Jan Jansen <jan@example.nl>:",
    "spanish": "El lun, 1 feb 2021 a las 10:00, Juan Pérez (<juan@example.es>) escribió:",
    "portuguese": "Em seg., 1 de fev. de 2021 às 10:00, João Silva <joao@example.pt> escreveu:",
    "italian": "Il giorno lun 1 feb 2021 alle ore 10:00 Mario Rossi <mario@example.it> ha scritto:",
    "swedish": "Den 1 feb. 2021 kl. 10:00 skrev Anna Svensson <anna@example.se>:",
    "polish pisze": "W dniu 01.02.2021 o 10:00, Jan Kowalski pisze:",
    "polish napisał(a)": "W dniu pon., 1 lut 2021 o 10:00 Jan Kowalski <jan@example.pl> napisał(a):",
    "russian android": '01.02.2021 10:00 пользователь "Анна" <anna@example.ru> написал:',
    "name only": "Ann Smith wrote:",
}


@pytest.mark.parametrize("attribution", ATTRIBUTIONS.values(), ids=ATTRIBUTIONS.keys())
def test_attribution_line_and_quote_are_removed(attribution):
    assert new_text(f"Thursday works for me.\n\n{attribution}\n\n{QUOTE}") == "Thursday works for me."


WRAPPED = {
    "gmail, two lines": "On Wed, May 18, 2016 at 11:10 PM Ann Smith <ann@example.com>\nwrote:",
    "apple, three lines": "On Dec 16, 2011, at 12:47 PM, Ann Smith\n<ann@example.com>\nwrote:",
    "address glued to verb": "On Tue, Sep 25, 2012 at 8:59 AM, Ann Smith\n<ann@example.com>wrote:",
    "german, two lines": "Am Mo., 1. Feb. 2021 um 10:00 Uhr schrieb Hans Müller <\nhans@example.de>:",
    "french, two lines": "Le lun. 1 févr. 2021 à 10:00, Jean Dupont <jean@example.fr>\na écrit :",
}


@pytest.mark.parametrize("attribution", WRAPPED.values(), ids=WRAPPED.keys())
def test_attribution_wrapped_over_several_lines_is_removed(attribution):
    assert new_text(f"Thursday works for me.\n\n{attribution}\n\n{QUOTE}") == "Thursday works for me."


def test_unquoted_history_below_an_attribution_is_dropped():
    # Gmail's HTML-to-text conversion leaves the earlier message without ">" markers.
    text = ("Thursday works for me.\n\nOn Mon, Feb 1, 2021 at 10:00 AM Ann Smith <ann@example.com>\n"
            "wrote:\n\nCan we move the session?\n")
    assert new_text(text) == "Thursday works for me."


def test_sentences_starting_with_on_or_ending_in_a_colon_are_kept():
    text = ("On your laptop you can run:\n\n    python -m venv .venv\n\n"
            "One more thing I noticed:\n\nOn Monday the build was green.")
    assert new_text(text) == text


# --- Outlook --------------------------------------------------------------------------------

ORIGINAL_MESSAGE = ["-----Original Message-----", "----- Original Message -----",
                    "-----Ursprüngliche Nachricht-----", "-----Message d'origine-----",
                    "-----Mensaje original-----", "-----Oorspronkelijk bericht-----",
                    "-----Messaggio originale-----", "-----Mensagem original-----"]


@pytest.mark.parametrize("separator", ORIGINAL_MESSAGE)
def test_original_message_block_and_everything_after_it_are_removed(separator):
    text = (f"Thursday works for me.\n\n{separator}\nFrom: Ann Smith\nSent: Monday\n\n"
            "Can we move the session?\n")
    assert new_text(text) == "Thursday works for me."


OUTLOOK_HEADERS = {
    "english": "From: Ann Smith <ann@example.com>\nSent: Monday, February 1, 2021 10:00 AM\n"
               "To: Bob Jones <bob@example.com>\nSubject: RE: Session",
    "bold": "*From:* Ann Smith [mailto:ann@example.com]\n*Sent:* Monday, February 1, 2021 10:00 AM\n"
            "*To:* bob@example.com\n*Subject:* Session",
    "wrapped recipients": "From: Ann Smith <ann@example.com>\nTo: Bob <bob@example.com>; Cy <cy@example.com>;\n"
                          " Di <di@example.com>\nSent: Mon, Feb 1, 2021 10:00 am\nSubject: Session",
    "german": "Von: Hans Müller <hans@example.de>\nGesendet: Montag, 1. Februar 2021 10:00\n"
              "An: Bob Jones\nBetreff: AW: Termin",
    "french": "De : Jean Dupont <jean@example.fr>\nEnvoyé : lundi 1 février 2021 10:00\n"
              "À : Bob Jones\nObjet : RE: Séance",
    "dutch": "Van: Jan Jansen <jan@example.nl>\nVerzonden: maandag 1 februari 2021 10:00\n"
             "Aan: Bob Jones\nOnderwerp: RE: Sessie",
    "spanish": "De: Juan Pérez <juan@example.es>\nEnviado el: lunes, 1 de febrero de 2021 10:00\n"
               "Para: Bob Jones\nAsunto: RE: Sesión",
    "portuguese": "De: João Silva <joao@example.pt>\nEnviada em: segunda-feira, 1 de fevereiro de 2021\n"
                  "Para: Bob Jones\nAssunto: RE: Sessão",
    "italian": "Da: Mario Rossi <mario@example.it>\nInviato: lunedì 1 febbraio 2021 10:00\n"
               "A: Bob Jones\nOggetto: R: Sessione",
    "swedish": "Från: Anna Svensson <anna@example.se>\nSkickat: den 1 februari 2021 10:00\n"
               "Till: Bob Jones\nÄmne: SV: Möte",
    "polish": "Od: Jan Kowalski <jan@example.pl>\nWysłano: poniedziałek, 1 lutego 2021 10:00\n"
              "Do: Bob Jones\nTemat: RE: Spotkanie",
}


@pytest.mark.parametrize("headers", OUTLOOK_HEADERS.values(), ids=OUTLOOK_HEADERS.keys())
def test_outlook_header_block_and_everything_after_it_are_removed(headers):
    text = f"Thursday works for me.\n\n________________________________\n{headers}\n\nCan we move it?\n"
    assert new_text(text) == "Thursday works for me."


def test_a_lone_from_line_in_prose_is_kept():
    text = "From: the mentors' side, Thursday is fine.\nTo be confirmed by Ann."
    assert new_text(text) == text


# --- forwards -------------------------------------------------------------------------------

FORWARD_MARKERS = ["---------- Forwarded message ---------", "-------- Forwarded Message --------",
                   "Begin forwarded message:", "---------- Weitergeleitete Nachricht ---------",
                   "-------- Message transféré --------", "Anfang der weitergeleiteten Nachricht:"]


@pytest.mark.parametrize("marker", FORWARD_MARKERS)
def test_forwarded_content_is_dropped_but_the_forwarders_words_are_kept(marker):
    text = (f"Ann, could you answer this one?\nThanks, Bob\n\n{marker}\nFrom: Cy <cy@example.com>\n"
            "Date: Mon, Feb 1, 2021 at 10:00 AM\nSubject: Question\nTo: Bob <bob@example.com>\n\n"
            "How do I join the group?\n")
    assert new_text(text) == "Ann, could you answer this one?"  # the sign-off goes too


def test_forward_without_own_words_returns_the_original():
    text = "---------- Forwarded message ---------\nFrom: Cy <cy@example.com>\n\nHow do I join?\n"
    assert new_text(text) == text.strip()


# --- signatures and footers -----------------------------------------------------------------

@pytest.mark.parametrize("delimiter", ["-- ", "--"], ids=["standard", "without trailing space"])
def test_signature_delimiter_and_everything_after_it_are_removed(delimiter):
    text = f"Thursday works for me.\n\n{delimiter}\nBob Jones\nMentor, Example Org\n+1 555 0100\n"
    assert new_text(text) == "Thursday works for me."


def test_double_dash_inside_a_line_is_not_a_signature():
    text = "Thursday -- or Friday -- works.\n\n---\n\nBob"
    assert new_text(text) == text


MOBILE_FOOTERS = ["Sent from my iPhone", "Sent from my Verizon Wireless BlackBerry", "Sent from my Android",
                  "Sent from Yahoo Mail on Android", "Sent from Mail for Windows 10",
                  "Get Outlook for iOS<https://aka.ms/o0ukef>", "Get Outlook for Android",
                  "Enviado desde mi iPhone", "Enviado do meu iPhone", "Envoyé de mon iPhone",
                  "Von meinem iPhone gesendet", "Gesendet von meinem iPad", "Verzonden vanaf mijn iPhone",
                  "Inviato da iPhone", "Inviato dal mio Samsung Galaxy", "Skickat från min iPhone",
                  "Wysłane z mojego iPhone'a", "Sent with Sparrow (http://www.sparrowmailapp.com/?sig)"]


@pytest.mark.parametrize("footer", MOBILE_FOOTERS)
def test_mobile_footer_is_removed(footer):
    assert new_text(f"Thursday works for me.\n\n{footer}\n") == "Thursday works for me."


@pytest.mark.parametrize("footer", ["Sent from my iPhone", "Von meinem iPhone gesendet"])
def test_mobile_footer_above_the_quoted_history_is_removed_with_it(footer):
    text = f"Thursday works for me.\n\n{footer}\n\nOn 1 Feb 2021, at 10:00, Ann <ann@example.com> wrote:\n\n{QUOTE}"
    assert new_text(text) == "Thursday works for me."


@pytest.mark.parametrize("text", [
    "Here is another email\n\nSent from my desk, is much easier than my mobile phone.",
    "The books were sent via FedEx today.\nSent via FedEx today.\nThey should arrive Monday.",
])
def test_sentences_that_look_like_footers_are_kept(text):
    assert new_text(text) == text


def test_mailing_list_footer_is_removed():
    text = ("Thursday works for me.\n\n_______________________________________________\n"
            "mentors mailing list\nmentors@lists.example.org\nhttps://lists.example.org/listinfo/mentors\n")
    assert new_text(text) == "Thursday works for me."


# --- whole-text guarantees ------------------------------------------------------------------

@pytest.mark.parametrize("text", ["> Can we move it?\n> Ann\n", "On 1 Feb 2021, Ann <ann@example.com> wrote:\n> Hi\n",
                                  "From: Ann <ann@example.com>\nSent: Monday\nTo: Bob\nSubject: Session\n\nHi Bob,\n"])
def test_a_mail_of_nothing_but_quoted_history_has_no_new_text(text):
    assert new_text(f"\n\n{text}\n  \n") == ""
    assert written_text(text) == ""


@pytest.mark.parametrize("text, expected", [
    ("Sent from my iPhone", "Sent from my iPhone"),
    ("-- \nBob Jones\n", "Bob Jones"),
    ("Thanks,\nBob\n\nOn 1 Feb 2021, Ann <ann@example.com> wrote:\n> Hi\n", "Thanks,\nBob"),
    ("Von meinem iPhone gesendet\n\n> Am 01.02.2021 um 10:00 schrieb Ann <ann@example.com>:\n> Hi\n",
     "Von meinem iPhone gesendet"),
])
def test_when_only_a_sign_off_signature_or_footer_is_left_that_is_the_new_text(text, expected):
    # The best of what is not history, never the history itself.
    assert new_text(f"\n\n{text}\n  \n") == expected


@pytest.mark.parametrize("text", ["", "   ", "\n\n\t \r\n"])
def test_empty_or_blank_text_gives_empty_string(text):
    assert new_text(text) == ""


def test_internal_line_breaks_are_kept_and_outer_whitespace_is_trimmed():
    text = "\n\n  Point one.\nPoint two.\n\n\n    indented code\n\nBye.  \n\n> quote\n"
    assert new_text(text) == "Point one.\nPoint two.\n\n\n    indented code\n\nBye."


def test_windows_and_old_mac_line_endings_are_understood():
    assert new_text("Yes.\r\n\r\n-- \r\nBob\r\n") == "Yes."
    assert new_text("Yes.\r\rOn 1 Feb 2021, Ann <ann@example.com> wrote:\r> Hi\r") == "Yes."


def test_garbage_never_raises_and_only_keeps_lines_of_the_input():
    rng = random.Random(20240601)
    alphabet = "ab >-_:\n\r\t\x00\x0b\u2028\ud800é😀<@1"
    for _ in range(300):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 400)))
        result = new_text(text)
        assert isinstance(result, str)
        given = {line.strip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")}
        assert {line.strip() for line in result.split("\n")} <= given | {""}
        if text.strip() and ">" not in text and ":" not in text:
            assert result  # no quote and no attribution: something of the author's always stays


@pytest.mark.parametrize("value, expected", [(None, ""), (b"Yes.\n-- \nBob", "Yes."), (42, "42")])
def test_non_text_input_does_not_raise(value, expected):
    assert new_text(value) == expected


HUGE = {
    "one 10 MB line": "x" * 10_000_000,
    "many quoted lines": "Yes.\n" + "> quoted line\n" * 200_000,
    "many near-attributions": "On 1 wrote wrote wrote wrote wrote\n" * 30_000,
    "many attributions over quotes": "On 1 Jan 2021, Ann <ann@example.com> wrote:\n> Hi\n" * 30_000,
    "many wrapped near-attributions": "On 1 Jan 2021 Ann <ann@example.com>\nwrote\n\n" * 30_000,
    "verbs all along lines ending in a colon": ("On 1 " + "wrote " * 48 + "x:\n") * 3_000,
    "times all along lines ending in a colon": ("On 1 " + "1:2 " * 70 + "wrote:\n") * 3_000,
    "many header-like lines": "From: a\nTo: b\n" * 30_000,
    "rules between quotes": "_____\n> q\n" * 50_000,
    "many blank lines": "Yes.\n" + "\n" * 1_000_000 + "Bye.",
    "many sign-off-like lines": "Thanks,\n" * 100_000,
    "many footer-like lines": "Sent from my iPhone\n" * 100_000,
}
ONLY_HISTORY = {"many attributions over quotes", "rules between quotes"}


@pytest.mark.parametrize("name", HUGE)
def test_huge_input_is_handled_quickly(name):
    start = time.perf_counter()
    result = new_text(HUGE[name])
    assert (result == "") == (name in ONLY_HISTORY)
    assert time.perf_counter() - start < 5


def test_typical_five_kilobyte_reply_takes_well_under_a_millisecond():
    reply = ("Hi Ann,\n\n" + "Thursday works for me, and I will bring the notes from last week. " * 20
             + "\n\nBest,\nBob\n\nOn Mon, Feb 1, 2021 at 10:00 AM Ann Smith <ann@example.com> wrote:\n\n"
             + "> Can we move the session to Thursday? We need the room for longer this time.\n" * 45)
    assert 4000 < len(reply) < 6000
    runs = []
    for _ in range(50):
        start = time.perf_counter()
        new_text(reply)
        runs.append(time.perf_counter() - start)
    assert sorted(runs)[len(runs) // 2] < 0.001


# --- real replies ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_reduces_to_its_authors_words(name):
    assert normalise(new_text(fixture_body(DATA / name))) == normalise(EXPECTED[name])


def test_every_copied_fixture_has_an_expectation():
    copied = {str(p.relative_to(DATA)) for p in DATA.glob("*/*") if p.suffix in (".eml", ".txt")}
    assert copied == set(EXPECTED)


def test_quote_score_benchmark_counts_every_fixture_as_exact():
    path = Path(__file__).parent.parent / "bench" / "quote_score.py"
    spec = importlib.util.spec_from_file_location("quote_score", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.score() == (len(EXPECTED), len(EXPECTED))
