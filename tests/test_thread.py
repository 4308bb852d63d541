import pytest

from mailhub.thread import pick_topic, strip_prefixes, subject_key


def test_reply_prefixes_and_the_list_prefix_are_stripped():
    assert strip_prefixes("Re: [mentors] Re: Fwd: Funding", "[mentors]") == ("Funding", True)
    assert strip_prefixes("RE[2]: Funding", "[mentors]") == ("Funding", True)
    assert strip_prefixes("[mentors] Funding", "[mentors]") == ("Funding", False)
    assert strip_prefixes("Regarding funding", "[mentors]") == ("Regarding funding", False)


def test_subject_key_ignores_case_and_spacing():
    assert subject_key("Re:  [mentors]  Funding   Ideas", "[mentors]") == subject_key("funding ideas", "[mentors]")


def test_topic_address_beats_headers_beat_thread_index_beats_subject():
    assert pick_topic(1, [2], 5, 3, True) == 1
    assert pick_topic(None, [2, 4], 5, 3, True) == 4  # the nearest known ancestor
    assert pick_topic(None, [], 5, 3, True) == 5
    assert pick_topic(None, [], None, 3, True) == 3
    assert pick_topic(None, [], None, 3, False) is None  # same subject, no reply prefix: a new topic
    assert pick_topic(None, [], None, None, True) is None


@pytest.mark.parametrize("subject", [
    "Re: Funding", "RE: Funding", "Re[2]: Funding", "Re(3): Funding", "Fwd: Funding", "FW: Funding",
    "AW: Funding", "WG: Funding", "SV: Funding", "VS: Funding", "VB: Funding", "Antw: Funding",
    "Doorst: Funding", "RV: Funding", "Enc: Funding", "TR: Funding", "Ynt: Funding", "Odp: Funding",
    "Ответ: Funding", "Отв: Funding", "回复: Funding", "回覆: Funding", "答复: Funding", "转发: Funding",
    "Re：Funding", "回复：Funding", "Re: AW: Re[2]: [mentors] FW: Funding", "[mentors] Re: Funding",
    "Re: Funding [mentors]", "re:re:  Funding", "RE : Funding",
])
def test_reply_prefixes_in_many_languages_are_stripped(subject):
    assert strip_prefixes(subject, "[mentors]") == ("Funding", True)


def test_words_that_merely_start_like_a_prefix_are_kept():
    assert strip_prefixes("Reading list", "[mentors]") == ("Reading list", False)
    assert strip_prefixes("Trade fair: who goes?", "[mentors]") == ("Trade fair: who goes?", False)
    assert strip_prefixes("Encuentro: viernes", "[mentors]") == ("Encuentro: viernes", False)


def test_encoded_subjects_are_stripped_after_decoding():
    from mailhub.parse import parse_message
    mail = parse_message(b"From: a@example.com\r\nSubject: =?utf-8?b?5Zue5aSN77yaW21lbnRvcnNdIOi1hOmHkQ==?=\r\n\r\nx\r\n")
    assert strip_prefixes(mail.subject, "[mentors]") == ("资金", True)
