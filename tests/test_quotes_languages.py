"""new_text() in the 18 languages members write in and the shapes each client gives a reply:
localized attributions and Outlook header blocks, phone footers, sign-offs, and never the quoted
history, whatever is left. The fixtures are in tests/data/replies_i18n (see its README)."""
from __future__ import annotations

import importlib.util
import json
import time
from pathlib import Path

import pytest

from mailhub.quotes import new_text, written_text

DATA = Path(__file__).parent / "data" / "replies_i18n"
ENTRIES: dict[str, dict] = json.loads((DATA / "expected.json").read_text(encoding="utf-8"))
LANGUAGES = {"en", "fr", "es", "pt", "ar", "sw", "de", "nl", "it", "pl", "sv", "da", "no", "fi", "tr", "ru", "ja", "zh"}
CLIENTS = {"gmail", "outlook-desktop", "outlook-web", "outlook-mobile", "apple-mail", "apple-mail-ios", "thunderbird",
           "yahoo", "samsung", "android", "other"}

_spec = importlib.util.spec_from_file_location("quote_score", Path(__file__).parent.parent / "bench" / "quote_score.py")
score = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(score)

QUOTE = "> Can we move the session to Thursday?\n>\n> Ann\n"


# --- every fixture --------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(ENTRIES))
def test_fixture_reduces_to_its_authors_words_and_leaks_no_history(name):
    entry = dict(ENTRIES[name], language=name.split("/")[0])
    body = score.fixture_body(DATA / name)
    got = new_text(body)
    assert score.normalise(got) == score.normalise(entry["text"])
    assert not score.leaks(got, body, entry)


def test_every_fixture_has_an_expectation_and_every_language_and_client_is_covered():
    files = {str(p.relative_to(DATA)) for p in DATA.glob("*/*") if p.suffix in (".eml", ".txt")}
    assert files == set(ENTRIES)
    assert {name.split("/")[0] for name in ENTRIES} == LANGUAGES
    assert {entry["client"] for entry in ENTRIES.values()} <= CLIENTS
    for client in CLIENTS - {"android", "other"}:
        assert sum(entry["client"] == client for entry in ENTRIES.values()) >= 10, client
    for language in LANGUAGES:
        assert sum(name.startswith(language + "/") for name in ENTRIES) >= 10, language


def test_quote_score_meets_the_targets_on_the_language_fixtures():
    # Issue 23: at least 90% exact and no history leaked, per the benchmark's own reading.
    measured = score.measure(DATA, {"mailhub": lambda text, language: new_text(text)})
    rows = measured["results"]["mailhub"]["rows"].values()
    exact = sum(row[0] for row in rows)
    assert exact >= 0.9 * len(rows)
    assert not any(row[1] for row in rows)


# --- attributions -----------------------------------------------------------------------------

ATTRIBUTIONS = {
    "swedish, weekday first": "ons 4 dec. 2024 kl. 20:42 skrev Erik Lindqvist <erik@example.se>:",
    "danish, weekday first": "ons. 4. dec. 2024 kl. 20.42 skrev Mette Nielsen <mette@example.dk>:",
    "norwegian apple mail": "4. des. 2024 kl. 20:42 skrev Kari Hansen <kari@example.no>:",
    "polish, weekday first": "śr., 4 gru 2024 o 20:42 Katarzyna Nowak <kasia@example.pl> napisał(a):",
    "polish apple mail": "Wiadomość napisana przez Katarzyna Nowak <kasia@example.pl> w dniu 4 gru 2024, o godz. 20:42:",
    "finnish, name first": "Aino Virtanen <aino@example.fi> kirjoitti 4.12.2024 kello 20.42:",
    "finnish gmail": "ke 4.12.2024 klo 20.42 Aino Virtanen (aino@example.fi) kirjoitti:",
    "turkish, name first": "Elif Demir <elif@example.com.tr>, 4 Ara 2024 Çar, 20:42 tarihinde şunu yazdı:",
    "russian, no verb": "ср, 4 дек. 2024 г. в 20:42, Ольга Смирнова <olga@example.ru>:",
    "russian apple mail": "4 дек. 2024 г., в 20:42, Ольга Смирнова <olga@example.ru> написал(а):",
    "japanese, no verb": "2022年1月1日(金) 9:00 田中太郎 <taro@example.jp>:",
    "japanese apple mail": "2024/12/04 20:42、佐藤花子 <hanako@example.jp>のメール:",
    "chinese, name first": "王芳 <wang.fang@example.cn> 于2024年12月4日周三 20:42写道：",
    "arabic gmail": "\u202bفي الأربعاء، 4 ديسمبر 2024 في 8:42 م تمت كتابة ما يلي بواسطة \u202aLayla\u202c\u200f <layla@example.org>:\u202c",
    "arabic-indic digits": "في ٤\u200f/١٢\u200f/٢٠٢٤، الساعة ٨:٤٢ م، كتب Layla Hassan <layla@example.org>:",
    "swahili": "Mnamo Jumatano, 4 Des 2024 saa 20:42, Amina Juma <amina@example.co.tz> aliandika:",
    "german gmail app": "Jonas Becker <jonas@example.de> schrieb am Mi., 4. Dez. 2024, 20:42:",
    "dutch apple mail": "Op 4 dec 2024 om 20:42 heeft Sanne de Vries <sanne@example.nl> het volgende geschreven:",
    "german yahoo": "Am Mittwoch, 4. Dezember 2024 um 20:42:13 MEZ hat Jonas Becker <jonas@example.de> Folgendes geschrieben:",
    "portuguese (portugal) gmail": "Ana Souza <ana@example.pt> escreveu no dia quarta, 4/12/2024 à(s) 20:42:",
    "gmail of 2013, no colon": "2013/7/20 Ann Smith <ann@example.com>",
}


@pytest.mark.parametrize("attribution", ATTRIBUTIONS.values(), ids=ATTRIBUTIONS.keys())
def test_attribution_in_any_shape_is_removed_with_the_quote(attribution):
    assert new_text(f"Thursday works for me.\n\n{attribution}\n\n{QUOTE}") == "Thursday works for me."


WRAPPED = {
    "japanese, address on the next line": "2024年12月4日(水) 20:42 佐藤花子 <\nhanako@example.jp>:",
    "turkish, verb on the next line": "Elif Demir <elif@example.com.tr>, 4 Ara 2024 Çar, 20:42 tarihinde\nşunu yazdı:",
    "finnish, weekday first": "pe 6. jouluk. 2024 klo 17.50 Aino Virtanen\n<aino@example.fi> kirjoitti:",
    "soft break in the verb": "On Wed, Dec 4, 2024 at 8:42 PM Ann Smith <ann@example.com> w=\nrote:",
    "soft break in the address": "Am Mi., 4. Dez. 2024 um 20:42 Uhr schrieb Jonas Becker <jonas@exam=\nple.de>:",
    "soft break in a weekday-first verb": "ons 4 dec. 2024 kl. 20:42 skr=\nev Erik Lindqvist <erik@example.se>:",
}


@pytest.mark.parametrize("attribution", WRAPPED.values(), ids=WRAPPED.keys())
def test_attribution_wrapped_or_split_by_a_soft_break_is_removed(attribution):
    assert new_text(f"Thursday works for me.\n\n{attribution}\n\n{QUOTE}") == "Thursday works for me."


def test_attribution_with_a_long_name_is_removed():
    name = "Prof. Dr. Maria-Theresa Alexandra von Hohenberg-Schillingsfürst (Koordination Mentoring Europa)"
    address = "maria-theresa.von-hohenberg-schillingsfuerst@mentoring-programm.example.de"
    attribution = f"Am Mi., 4. Dez. 2024 um 20:42 Uhr schrieb {name} <{address}>:"
    assert len(attribution) > 200
    assert new_text(f"Passt.\n\n{attribution}\n\n{QUOTE}") == "Passt."
    assert new_text(f"Passt.\n\n{name} via mentors wrote:\n{QUOTE}") == "Passt."


def test_history_under_an_attribution_without_quote_marks_is_dropped():
    # Gmail's HTML as text, or Yahoo's plain part: the history is not marked with ">".
    text = "Да, четверг подходит.\n\nср, 4 дек. 2024 г. в 20:42, Ольга <olga@example.ru>:\n\nАлексей, добрый день!\n"
    assert new_text(text) == "Да, четверг подходит."


def test_a_line_of_the_authors_right_above_the_attribution_is_kept():
    text = f"Thursday works for me.\nOn Wed, Dec 4, 2024 at 8:42 PM Ann Smith <ann@example.com>\nwrote:\n{QUOTE}"
    assert new_text(text) == "Thursday works for me."


def test_answers_under_quotes_below_an_introduction_are_kept():
    text = ("One note first:\nOn Wed, Dec 4, 2024 at 8:42 PM Ann <ann@example.com> wrote:\n> Thursday?\n\n"
            "Yes.\n\n> Which room?\n\nThe small one.\n")
    assert new_text(text) == "One note first:\n\nYes.\n\nThe small one."


# --- Outlook, forwards and footers in other languages -----------------------------------------

HEADER_BLOCKS = {
    "polish": "Od: Katarzyna Nowak <kasia@example.pl>\nWysłano: środa, 4 grudnia 2024 20:42\nDo: Tomek\nTemat: RE: Sesja",
    "swedish": "Från: Erik <erik@example.se>\nSkickat: den 4 december 2024 20:42\nTill: Sara\nÄmne: SV: Möte",
    "danish": "Fra: Mette <mette@example.dk>\nSendt: 4. december 2024 20:42\nTil: Lars\nEmne: SV: Møde",
    "finnish": "Lähettäjä: Aino <aino@example.fi>\nLähetetty: keskiviikko 4. joulukuuta 2024 20.42\n"
               "Vastaanottaja: Mikko\nAihe: VS: Tapaaminen",
    "turkish": "Kimden: Elif <elif@example.com.tr>\nGönderildi: 4 Aralık 2024 Çarşamba 20:42\nKime: Mehmet\nKonu: YNT: Oturum",
    "russian": "От: Ольга <olga@example.ru>\nОтправлено: 4 декабря 2024 г. 20:42\nКому: Алексей\nТема: RE: Встреча",
    "japanese": "差出人: 佐藤花子 <hanako@example.jp>\n送信日時: 2024年12月4日 20:42\n宛先: 鈴木一郎\n件名: RE: 日程",
    "chinese, full-width colons": "发件人：王芳 <wang.fang@example.cn>\n发送时间：2024年12月4日 20:42\n收件人：李伟\n主题：回复：时间",
    "arabic, with right-to-left marks": "\u200fمن: Layla <layla@example.org>\n\u200fأرسل: الأربعاء، 4 ديسمبر 2024\n"
                                        "\u200fإلى: Omar\n\u200fالموضوع: جلسة",
    "swahili": "Kutoka: Amina <amina@example.co.tz>\nImetumwa: Jumatano, 4 Desemba 2024\nKwa: Baraka\nMada: Kipindi",
    "french, no-break spaces": "De\u00a0: Claire <claire@example.fr>\nEnvoyé\u00a0: mercredi 4 décembre 2024\n"
                               "À\u00a0: Thomas\nObjet\u00a0: RE: Séance",
    "samsung, trailing spaces": "-------- Oryginalna wiadomość --------\nOd: Kasia <kasia@example.pl> \n"
                                "Data: 04.12.2024 20:42 (GMT+01:00) \nDo: Tomek \nTemat: Sesja ",
    "original message line in danish": "-----Oprindelig meddelelse-----\nFra: Mette\nSendt: 4. december 2024\nTil: Lars",
    "a title we do not know, above a header block": "---------- Ujumbe wa zamani ----------\nKutoka: Amina\nTarehe: 4 Des\nKwa: Baraka",
}


@pytest.mark.parametrize("headers", HEADER_BLOCKS.values(), ids=HEADER_BLOCKS.keys())
def test_localized_header_block_and_everything_after_it_are_removed(headers):
    text = f"Thursday works for me.\n\n________________________________\n{headers}\n\nCan we move it?\n"
    assert new_text(text) == "Thursday works for me."


@pytest.mark.parametrize("rule", ["", "________________________________\n", "-----\n"], ids=["none", "underscores", "dashes"])
def test_outlook_rule_above_the_history_goes_and_the_text_above_it_stays(rule):
    long_history = "\n".join(f"Line {n} of Ann's message." for n in range(15))
    text = f"Thursday works.\n{rule}From: Ann <ann@example.com>\nSent: Monday\nTo: Bob\nSubject: Session\n\n{long_history}"
    assert new_text(text) == "Thursday works."


def test_the_authors_own_rule_is_not_taken_for_a_list_footer():
    text = ("Agenda:\n_____\n1. Goals\n2. CV review\n\nBob\n\n________________________________\n"
            "From: Ann <ann@example.com>\nSent: Monday\nTo: Bob\nSubject: Session\n\nCan we meet?\n")
    assert new_text(text) == "Agenda:\n_____\n1. Goals\n2. CV review\n\nBob"


FOOTERS = ["Lähetetty iPhonesta", "iPhone'umdan gönderildi", "Отправлено с iPhone", "iPhoneから送信", "发自我的iPhone",
           "أُرسلت من الـ iPhone", "Imetumwa kutoka iPhone yangu", "Von meinem/meiner Galaxy gesendet",
           "Envoyé depuis mon appareil Galaxy", "Galaxy スマートフォンから送信", "تم الإرسال من Samsung Galaxy الخاص بي",
           "Hent Outlook til iOS<https://aka.ms/o0ukef>", "Outlook für iOS<https://aka.ms/o0ukef> herunterladen",
           "iOS için Outlook'u edinin<https://aka.ms/o0ukef>", "Pobierz aplikację Outlook dla systemu iOS<https://aka.ms/o0ukef>"]


@pytest.mark.parametrize("footer", FOOTERS)
def test_phone_and_app_footers_in_any_language_are_removed(footer):
    assert new_text(f"Thursday works for me.\n\n{footer}\n\n{QUOTE}") == "Thursday works for me."


# --- sign-offs ----------------------------------------------------------------------------------

SIGN_OFFS = ["Regards,\nBob", "Kind regards,\nBob Jones\nMentor | Example Programme\n+1 555 0100", "Thanks, Bob",
             "Pozdrawiam,\nTomek", "Mvh\nSara", "Med venlig hilsen\nLars", "Cordialement,\nThomas", "Saludos,\nDiego",
             "Atenciosamente,\nPedro", "Mit freundlichen Grüßen\n\nLena Schmidt", "Met vriendelijke groet,\nPieter",
             "Cordiali saluti,\nMarco", "Ystävällisin terveisin\nMikko", "t. Mikko", "Saygılarımla,\nMehmet",
             "С уважением,\nАлексей", "مع تحياتي،\nعمر", "Wako,\nBaraka", "よろしくお願いします。\n鈴木", "祝好，\n李伟",
             "/Sara", "Mvh Lars", "——————————————\n\n李伟\n导师"]


@pytest.mark.parametrize("sign_off", SIGN_OFFS)
def test_sign_off_and_the_name_under_it_leave_the_new_text(sign_off):
    text = f"Thursday works for me.\n\n{sign_off}\n"
    assert new_text(text) == "Thursday works for me."
    assert new_text(f"{text}\nOn 1 Feb 2021, Ann <ann@example.com> wrote:\n{QUOTE}") == "Thursday works for me."


@pytest.mark.parametrize("text", [
    "Can you send the slides?\n\nThanks!",  # thanks without a name under them close a sentence
    "Thank you\nfor organising this, see you Thursday!",
    "Thursday works.\n\nRegards,\nBob\n\nP.S. The room is 2.14, second floor.",  # more than a name follows
    "Thanks, that helps a lot!",
    "Best of luck with the interview tomorrow!",
    "Thursday -- or Friday -- works.\n\n---\n\nBob",  # "---" is a break in the text, not a signature rule
])
def test_words_that_only_look_like_a_sign_off_stay(text):
    assert new_text(text) == text


def test_a_sign_off_that_is_all_the_author_wrote_stays():
    assert new_text(f"Thanks,\nBob\n\nOn 1 Feb 2021, Ann <ann@example.com> wrote:\n{QUOTE}") == "Thanks,\nBob"
    assert new_text("Hi Ann,\n\nThanks,\nBob") == "Hi Ann,\n\nThanks,\nBob"  # a greeting alone is not the text


def test_commands_are_read_without_the_sign_off():
    assert written_text("solved\n\nThanks,\nBob") == "solved"
    assert written_text("Von meinem iPhone gesendet\n\n> Am 01.02.2021 um 10:00 schrieb Ann <a@example.com>:\n") == ""


# --- look-alikes the author wrote -----------------------------------------------------------------

@pytest.mark.parametrize("text", [
    "On Thursday at 18:00 we meet in room 2.14:\n\n- goals\n- CV review",
    "Am Donnerstag um 18 Uhr treffen wir uns in Raum 2.14:\n\n- Ziele\n- Lebenslauf",
    "Von: 10 Uhr\nBis: 12 Uhr\nOrt: Raum 2.14\n\nBitte pünktlich sein.",
    "I sent the agenda from my iPhone",
    "Ann wrote to me on 4 Dec at 10:30:\n\nThe room is booked.",
    "以下の通りです：\n\n木曜日 18時",
])
def test_lines_that_look_like_markers_but_are_the_authors_stay(text):
    assert new_text(text) == text


# --- speed ------------------------------------------------------------------------------------------

def test_a_reply_in_any_language_takes_well_under_a_millisecond():
    bodies = [score.fixture_body(DATA / name) for name in sorted(ENTRIES)]
    runs = []
    for body in bodies:
        start = time.perf_counter()
        new_text(body)
        runs.append(time.perf_counter() - start)
    assert sorted(runs)[len(runs) // 2] < 0.001
