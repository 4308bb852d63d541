from mailhub.thread import pick_topic, strip_prefixes, subject_key


def test_reply_prefixes_and_the_list_prefix_are_stripped():
    assert strip_prefixes("Re: [mentors] Re: Fwd: Funding", "[mentors]") == ("Funding", True)
    assert strip_prefixes("RE[2]: Funding", "[mentors]") == ("Funding", True)
    assert strip_prefixes("[mentors] Funding", "[mentors]") == ("Funding", False)
    assert strip_prefixes("Regarding funding", "[mentors]") == ("Regarding funding", False)


def test_subject_key_ignores_case_and_spacing():
    assert subject_key("Re:  [mentors]  Funding   Ideas", "[mentors]") == subject_key("funding ideas", "[mentors]")


def test_topic_address_beats_headers_beat_subject():
    assert pick_topic(1, [2], 3, True) == 1
    assert pick_topic(None, [2, 4], 3, True) == 4  # the nearest known ancestor
    assert pick_topic(None, [], 3, True) == 3
    assert pick_topic(None, [], 3, False) is None  # same subject, no reply prefix: a new topic
    assert pick_topic(None, [], None, True) is None
