"""Choosing a reader's language and reading commands in any shipped language: pure functions."""
from __future__ import annotations

import unicodedata

import pytest

from mailhub.commands import argument, command_named, parse_commands, read_command, read_verdict, reply_word
from mailhub.i18n.catalogs import command_word
from mailhub.i18n.languages import SHIPPED, UnknownLanguage, choose, declared_language, read_language
from mailhub.i18n.words import COMMANDS, alternatives


@pytest.mark.parametrize("typed, code", [("fr", "fr"), ("FR", "fr"), ("pt-BR", "pt"), ("pt_br", "pt"),
                                          ("Français", "fr"), ("francais", "fr"), ("kiswahili", "sw"),
                                          ("العربية", "ar"), ("español", "es"), ("en-GB", "en")])
def test_a_language_is_read_from_a_code_a_tag_or_a_name(typed, code):
    assert read_language(typed) == code


@pytest.mark.parametrize("typed", ["xx", "klingon", "de", "", "f r", "fr-"])
def test_an_unknown_language_names_the_shipped_ones(typed):
    with pytest.raises(UnknownLanguage) as raised:
        read_language(typed)
    assert all(code in str(raised.value) for code in SHIPPED) and "Kiswahili" in str(raised.value)


def test_a_mail_declares_its_language_content_first_then_by_preference():
    assert declared_language("fr-CA", "es") == "fr"
    assert declared_language("", "de-DE, pt;q=0.8, es;q=0.9") == "es"
    assert declared_language("de", "de, ja;q=0.5") is None
    assert declared_language("", "sw;q=0, en;q=0.2") == "en"  # q=0 means "not this one"
    assert declared_language("", "fr;q=nonsense, ar") == "ar"


def test_who_gets_what():
    assert choose("es", None, "fr", "en") == "es"  # the member's own beats the group's
    assert choose(None, "pt", "fr", "en") == "pt"  # a stranger's declared language beats the group's
    assert choose(None, None, "fr", "en") == "fr"
    assert choose(None, None, None, "ar") == "ar"
    assert choose("xx", None, None, None) == "en"  # a setting no longer shipped is passed over


@pytest.mark.parametrize("language", SHIPPED)
def test_commands_are_read_in_every_language(language):
    def word(english: str) -> str:
        return command_word(language, english)

    commands = parse_commands("", "\n".join([word("help"), f"{word('digest')} {word('weekly')}",
                                             f"{word('language')} fr", f"{word('mute')} abc123",
                                             word("unsubscribe"), f"{word('solved')} abc123"]))
    assert [c.name for c in commands] == ["help", "digest", "language", "mute", "leave", "solved"]
    assert argument(commands[1].args[0]) == "weekly"
    assert commands[2].rest == "fr" and commands[3].args == ("abc123",)
    assert commands[1].line == f"{word('digest')} {word('weekly')}"  # as written, for the answer
    assert reply_word("Re: [mentors] Hello", word("mute"), "[mentors]") == "mute"
    assert reply_word("Re: [mentors] Hello", word("follow") + "!", "[mentors]") == "follow"
    assert reply_word("Re: [mentors] Hello", word("solved").capitalize() + "!", "[mentors]") == "solved"
    verdict = read_verdict("Re: post to check", f"{word('reject')} off topic")
    assert verdict is not None and verdict.action == "reject" and verdict.reason == "off topic"


def test_command_words_match_without_accents_or_case():
    """A phone keyboard may not offer é or ç: `RESUME` is `résumé`."""
    accented = [(english, word) for language in SHIPPED for english in COMMANDS
                for word in alternatives(language, english) if not word.isascii() and word.isalpha()
                and any(unicodedata.combining(c) for c in unicodedata.normalize("NFKD", word))]
    assert accented, "no command word with an accent in any catalog"
    for english, word in accented:
        bare = "".join(c for c in unicodedata.normalize("NFKD", word) if not unicodedata.combining(c)).upper()
        command = read_command(bare)
        assert command is not None and command.name == command_named(english), (word, bare)
