"""Read what a person asks for by mail: commands to `-request`, a one-word reply to a list copy,
a moderator's verdict. Pure functions, text in and typed values out; acting on them is
`request_mail`'s job."""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Optional

from mailhub.i18n.words import fold, meaning
from mailhub.quotes import written_text
from mailhub.thread import strip_prefixes

COMMANDS = ("help", "join", "leave", "confirm", "each", "digest", "nomail", "plain", "profile", "who",
            "topics", "get", "search", "mute", "follow", "timezone", "language", "solved", "events")
# Words people use for the same thing, from other list servers' habits. Each shipped language's
# own words come from its catalog (mailhub.i18n.words).
ALIASES = {"subscribe": "join", "unsubscribe": "leave", "signoff": "leave", "info": "help",
           "list": "topics", "find": "search"}
REPLY_WORDS = ("mute", "follow", "unsubscribe", "solved")
PRIVATE_WORDS = ("block", "unblock")  # alone in a private mail through the group (private.py)
LONGEST_WORD = 3  # a command word may be a few words in some languages ("إلغاء الاشتراك")
MAX_COMMANDS = 20  # a mail is answered once, however long it is
MAX_NOT_UNDERSTOOD = 3  # then the rest is taken for a letter, not commands
MAX_LINE = 500

_END = {"end", "stop", "quit", "thanks", "thank you"}
_ADDRESS = re.compile(r"^(?:address=)?[^@\s]+@[^@\s]+\.[^@\s]+$", re.IGNORECASE)
_VERDICTS = {"approve": "approve", "approved": "approve", "accept": "approve", "yes": "approve", "ok": "approve",
             "reject": "reject", "rejected": "reject", "no": "reject",
             "discard": "discard", "delete": "discard", "spam": "discard"}


@dataclass(frozen=True)
class Command:
    line: str  # as the person wrote it, quoted back in the answer
    name: str  # one of COMMANDS, or "" when not understood
    args: tuple[str, ...] = ()
    rest: str = ""  # the line after the command word, spacing kept (profile texts, search words)

    @property
    def other_address(self) -> Optional[str]:
        """An address named in the arguments: commands only act for the sender, so this is refused."""
        if self.name in ("profile", "search", "get", "mute", "follow", "timezone", "solved"):
            return None  # free text, or a topic key
        return next((a.removeprefix("address=") for a in self.args if _ADDRESS.match(a)), None)


def read_command(line: str) -> Optional[Command]:
    """One line as a command; None for a blank line."""
    text = " ".join(line.split())[:MAX_LINE]
    if not text:
        return None
    split = text.split(" ")
    for n in range(min(LONGEST_WORD, len(split)), 0, -1):
        name = command_named(" ".join(split[:n]))
        if name is not None:
            rest = " ".join(split[n:])
            return Command(line=text, name=name, args=tuple(rest.split()), rest=rest.strip())
    return Command(line=text, name="")


def command_named(word: str) -> Optional[str]:
    """The command (one of COMMANDS) `word` names in any shipped language, or None."""
    english = ALIASES.get(fold(word)) or meaning("command", word)
    return ALIASES.get(english, english) if english else None


def argument(word: str) -> str:
    """An argument word in English (`quotidien` -> `daily`), or as written, lower case, when it
    is none of mailhub.i18n.words.ARGUMENTS."""
    return meaning("argument", word) or word.lower()


def _greeting(line: str) -> bool:
    """"Hi," or "Dear moderators," before the real text: not a command, not worth an error."""
    words = line.split()
    return 0 < len(words) <= 4 and line.rstrip().endswith((",", "،"))  # the Arabic comma too


def _body_lines(body: str) -> list[str]:
    """The non-blank lines a person typed: quoted text, a greeting and signatures dropped,
    stopping at `end` or at a sign-off ("Thanks," after the commands)."""
    lines: list[str] = []
    for line in written_text(body).splitlines():
        if fold(line) in _END or meaning("ending", line) or (lines and _greeting(line)):
            break
        if line.strip() and not _greeting(line):
            lines.append(line.strip())
    return lines


def parse_commands(subject: str, body: str, list_prefix: str = "") -> list[Command]:
    """Commands from the subject (when it is one) and then the body, one per line."""
    found: list[Command] = []
    subject_text, _ = strip_prefixes(subject, list_prefix)
    from_subject = read_command(subject_text)
    if from_subject is not None and from_subject.name:
        found.append(from_subject)
    else:
        from_subject = None  # a subject like "Hello" is not a command, and not an error
    not_understood = 0
    for line in _body_lines(body):
        command = read_command(line)
        if command is None:
            continue
        if from_subject is not None and command.line.lower() == from_subject.line.lower():
            continue  # the same command in subject and body counts once
        found.append(command)
        not_understood += not command.name
        if not_understood >= MAX_NOT_UNDERSTOOD or len(found) >= MAX_COMMANDS:
            break
    return found


def _bare_word(text: str) -> str:
    return " ".join(text.split()).lower().strip(".!")


def reply_word(subject: str, body: str, list_prefix: str, new: Optional[str] = None,
               words: tuple[str, ...] = REPLY_WORDS) -> Optional[str]:
    """`mute`, `follow`, `unsubscribe` or `solved` when that one word is all the person wrote in a reply
    (or, with nothing written, all of the subject); anything longer is a post. `new` is the
    body's `quotes.new_text` when the caller has it already: reading quotes is the costly part."""
    written = _reply_word(written_text(body) if new is None else new, words)
    if written is not None:
        return written
    in_subject = _reply_word(strip_prefixes(subject, list_prefix)[0], words)
    if in_subject is not None and not written_text(body):
        return in_subject
    return None


def _reply_word(text: str, words: tuple[str, ...]) -> Optional[str]:
    """One of `words` (English command words), in any shipped language, when that is all of `text`."""
    word = _bare_word(text)
    if not word or len(word.split()) > LONGEST_WORD:
        return None
    english = meaning("command", word)
    return english if english in words else None


@dataclass(frozen=True)
class Verdict:
    action: str  # approve, reject or discard
    reason: str = ""


def read_verdict(subject: str, body: str) -> Optional[Verdict]:
    """A moderator's or owner's answer: the first word they wrote is approve, reject [reason]
    or discard; a reason may go on over the next lines."""
    lines = _body_lines(body)
    if not lines:
        lines = [strip_prefixes(subject, "")[0]]
    word, _, rest = lines[0].partition(" ")
    action = _VERDICTS.get(fold(word)) or meaning("verdict", word)
    if action is None:
        return None
    reason = " ".join([rest.strip(" :-"), *lines[1:]]).strip() if action == "reject" else ""
    return Verdict(action, reason[:MAX_LINE])


def clean_text(text: str, limit: int) -> str:
    """One line of printable text, at most `limit` characters: control characters and line
    breaks that a person (or a forged header) sent can never reach a mail header."""
    kept = "".join(" " if unicodedata.category(ch).startswith(("C", "Z")) else ch for ch in text)
    return " ".join(kept.split())[:limit]
